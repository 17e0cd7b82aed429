"""The NAB scorer against NAB's published results (numenta/NAB @ ea702d7, shared datasets folder).

Only the published anomaly scores, timestamps, label windows, profiles and thresholds go in; the
published per-row reward columns and per-file score tables are never used to compute a score.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from conftest import need_dataset
from edgewise.bench.nab import (
    HALVES,
    PROFILE_NAMES,
    Corpus,
    Profile,
    load_corpus,
    load_profiles,
    optimize_threshold,
    read_results,
    results_path,
    row_rewards,
    score_corpus,
    write_results,
)
from edgewise.bench.nab._corpus import read_columns

DETECTORS = ("windowedGaussian", "numenta", "ARTime")
# The reproduction is exact up to float rounding (~1e-10); 0.05 is the agreed acceptance bound.
TOLERANCE = 0.05

Published = Mapping[str, Mapping[str, NDArray[np.float64]]]


@pytest.fixture(scope="module")
def nab() -> Path:
    return need_dataset("NAB")


@pytest.fixture(scope="module")
def corpus(nab: Path) -> Corpus:
    return load_corpus(nab)


@pytest.fixture(scope="module")
def profiles(nab: Path) -> dict[str, Profile]:
    return load_profiles(nab)


@pytest.fixture(scope="module")
def published_scores(nab: Path, corpus: Corpus) -> Published:
    return {d: read_results(nab / "results", d, corpus) for d in DETECTORS}


def _json(path: Path) -> dict[str, dict[str, Any]]:
    with path.open() as handle:
        loaded: dict[str, dict[str, Any]] = json.load(handle)
    return loaded


def test_corpus(corpus: Corpus) -> None:
    assert (len(corpus), corpus.n_windows) == (58, 116)
    taxi = corpus["realKnownCause/nyc_taxi.csv"]
    assert (taxi.group, len(taxi), taxi.probation, len(taxi.windows)) == (
        "realKnownCause",
        10320,
        750,
        5,
    )
    assert taxi.timestamps[taxi.windows[0][0]] == np.datetime64("2014-10-30T15:30:00")
    assert sorted(HALVES["A"] + HALVES["B"]) == list(corpus.names)
    assert corpus.subset(HALVES["A"]).n_windows + corpus.subset(HALVES["B"]).n_windows == 116


@pytest.mark.parametrize("profile_name", PROFILE_NAMES)
@pytest.mark.parametrize("detector", DETECTORS)
def test_reproduces_published_score(
    nab: Path,
    corpus: Corpus,
    profiles: dict[str, Profile],
    published_scores: Published,
    detector: str,
    profile_name: str,
) -> None:
    threshold = _json(nab / "config" / "thresholds.json")[detector][profile_name]["threshold"]
    expected = _json(nab / "results" / "final_results.json")[detector][profile_name]
    result = score_corpus(corpus, published_scores[detector], profiles[profile_name], threshold)
    assert result.normalised == pytest.approx(expected, abs=TOLERANCE)


@pytest.mark.parametrize("profile_name", PROFILE_NAMES)
@pytest.mark.parametrize("detector", DETECTORS)
def test_threshold_search_matches_or_beats_published(
    nab: Path,
    corpus: Corpus,
    profiles: dict[str, Profile],
    published_scores: Published,
    detector: str,
    profile_name: str,
) -> None:
    expected = _json(nab / "results" / "final_results.json")[detector][profile_name]
    choice = optimize_threshold(corpus, published_scores[detector], profiles[profile_name])
    assert choice.score >= expected - 1e-9


def test_row_rewards_match_published_reward_columns(
    nab: Path, corpus: Corpus, profiles: dict[str, Profile]
) -> None:
    # ARTime's results carry every row's reward (NAB's S(t)): a check of the rules row by row.
    for file in corpus:
        path = results_path(nab / "results", "ARTime", file)
        columns = read_columns(path, [f"S(t)_{name}" for name in PROFILE_NAMES])
        for name, column in zip(PROFILE_NAMES, columns, strict=True):
            published = np.asarray(column, dtype=np.float64)
            np.testing.assert_allclose(row_rewards(file, profiles[name]), published, atol=1e-12)


def test_results_round_trip(
    tmp_path: Path, corpus: Corpus, profiles: dict[str, Profile], published_scores: Published
) -> None:
    scores = published_scores["ARTime"]
    write_results(tmp_path, "copy", corpus, scores)
    again = read_results(tmp_path, "copy", corpus)
    for name in corpus.names:
        np.testing.assert_array_equal(again[name], scores[name])
    standard = profiles["standard"]
    assert score_corpus(corpus, again, standard, 0.317486) == score_corpus(
        corpus, scores, standard, 0.317486
    )
