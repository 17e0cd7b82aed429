"""NAB's scoring rules on small synthetic series (no dataset needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from edgewise.bench.nab import (
    HALVES,
    Corpus,
    NabFile,
    Profile,
    nab_dir,
    optimize_threshold,
    probation_rows,
    read_results,
    row_rewards,
    scaled_sigmoid,
    score_corpus,
    score_detections,
    score_file,
    write_results,
)

PROFILE = Profile("test", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
S_MAX = float(scaled_sigmoid(-1.0))


def make_file(
    n: int = 100, windows: tuple[tuple[int, int], ...] = ((40, 49),), probation: int = 10
) -> NabFile:
    start = np.datetime64("2024-01-01T00:00:00", "s")
    return NabFile(
        name=f"synthetic/n{n}_w{len(windows)}_p{probation}.csv",
        timestamps=start + np.arange(n) * np.timedelta64(60, "s"),
        values=np.sin(np.arange(n, dtype=np.float64)),
        windows=windows,
        probation=probation,
    )


def fire_at(file: NabFile, *rows: int) -> NDArray[np.float64]:
    scores = np.zeros(len(file))
    scores[list(rows)] = 1.0
    return scores


def test_scaled_sigmoid_shape() -> None:
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    # Exactly 3 is still on the curve (as NAB's published reward columns show); beyond it is -1.
    assert scaled_sigmoid(3.0) == pytest.approx(2 / (1 + math.exp(15)) - 1, abs=1e-15)
    assert scaled_sigmoid(3.0) != -1.0
    assert scaled_sigmoid([3.0001, 1e6, math.inf]).tolist() == [-1.0, -1.0, -1.0]


def test_probation_rows() -> None:
    assert [probation_rows(n) for n in (0, 10, 4032, 5000, 22695)] == [0, 1, 604, 750, 750]


def test_first_detection_in_window_earns_by_position() -> None:
    file = make_file()
    first_row = score_file(file, fire_at(file, 40), PROFILE, 0.5)
    assert first_row.raw == pytest.approx(PROFILE.tp_weight)
    assert (first_row.detected, first_row.missed, first_row.false_positives) == (1, 0, 0)
    expected = PROFILE.tp_weight * float(scaled_sigmoid(-(49 - 42 + 1) / 10)) / S_MAX
    assert score_file(file, fire_at(file, 42), PROFILE, 0.5).raw == pytest.approx(expected)


def test_only_the_first_detection_in_a_window_counts() -> None:
    file = make_file()
    once = score_file(file, fire_at(file, 42), PROFILE, 0.5).raw
    assert score_file(file, fire_at(file, 42, 45, 49), PROFILE, 0.5).raw == once


def test_false_positive_costs() -> None:
    file = make_file()
    before_any_window = score_file(file, fire_at(file, 20, 40), PROFILE, 0.5)
    assert before_any_window.raw == pytest.approx(PROFILE.tp_weight - PROFILE.fp_weight)
    assert before_any_window.false_positives == 1
    near = score_file(file, fire_at(file, 40, 54), PROFILE, 0.5).raw
    assert near == pytest.approx(1.0 + PROFILE.fp_weight * float(scaled_sigmoid(5 / 9)))
    far = score_file(file, fire_at(file, 40, 99), PROFILE, 0.5).raw
    assert far == pytest.approx(1.0 - PROFILE.fp_weight)


def test_missed_windows_cost_fn_weight() -> None:
    file = make_file(windows=((40, 49), (70, 79)))
    missed_both = score_file(file, np.zeros(len(file)), PROFILE, 0.5)
    assert missed_both.raw == -2 * PROFILE.fn_weight
    assert (missed_both.detected, missed_both.missed) == (0, 2)
    one_missed = score_file(file, fire_at(file, 70), PROFILE, 0.5)
    assert one_missed.raw == pytest.approx(PROFILE.tp_weight - PROFILE.fn_weight)


def test_probationary_rows_are_not_scored() -> None:
    file = make_file(windows=((3, 5), (40, 49)))
    # A detection in probation neither costs nor earns; a window inside it does not count.
    result = score_file(file, fire_at(file, 2, 4, 9), PROFILE, 0.5)
    assert (result.raw, result.detected, result.missed, result.false_positives) == (-1.0, 0, 1, 0)
    corpus = Corpus((file,))
    assert score_corpus(corpus, {file.name: np.zeros(len(file))}, PROFILE, 0.5).null == -1.0


def test_row_rewards_are_the_scores_of_single_detections() -> None:
    file = make_file(windows=((40, 49), (70, 70)))
    rewards = row_rewards(file, PROFILE)
    for row in (15, 40, 45, 55, 70, 71, 90):
        alone = score_file(file, fire_at(file, row), PROFILE, 0.5).raw
        missed = -PROFILE.fn_weight * (2 - int(file.labels[row]))
        assert rewards[row] == pytest.approx(alone - missed)
    # No distance can be measured past a one-row window: a false positive costs in full.
    assert rewards[71] == -PROFILE.fp_weight


def test_normalisation_and_detections() -> None:
    file = make_file()
    corpus = Corpus((file,))
    perfect = score_detections(corpus, {file.name: file.labels}, PROFILE)
    assert (perfect.null, perfect.perfect, perfect.normalised) == (-1.0, 1.0, 100.0)
    never = score_detections(corpus, {file.name: np.zeros(len(file), dtype=bool)}, PROFILE)
    assert never.normalised == 0.0
    with pytest.raises(ValueError, match="undefined"):
        empty = make_file(windows=())
        _ = score_detections(Corpus((empty,)), {empty.name: empty.labels}, PROFILE).normalised


def test_bad_scores_are_rejected() -> None:
    file = make_file()
    corpus = Corpus((file,))
    with pytest.raises(KeyError, match="no entry"):
        score_corpus(corpus, {}, PROFILE, 0.5)
    with pytest.raises(ValueError, match="100 rows"):
        score_corpus(corpus, {file.name: np.zeros(99)}, PROFILE, 0.5)


def test_threshold_search_equals_brute_force() -> None:
    rng = np.random.default_rng(7)
    corpus = Corpus(
        (
            make_file(120, ((30, 39), (80, 95)), 18),
            make_file(90, ((50, 52),), 13),
            make_file(60, (), 9),
        )
    )
    # Rounded scores make ties, within and across files; a few rows never score.
    scores = {f.name: np.round(rng.random(len(f)), 2) for f in corpus}
    scores[corpus.files[0].name][[5, 33]] = np.nan
    for profile in (PROFILE, Profile("fn", 1.0, 0.11, 2.0), Profile("fp", 1.0, 0.5, 0.2)):
        choice = optimize_threshold(corpus, scores, profile)
        candidates = np.unique(np.concatenate(list(scores.values())))
        by_threshold = {
            float(t): score_corpus(corpus, scores, profile, float(t)).normalised
            for t in candidates[~np.isnan(candidates)]
        }
        best = max(by_threshold.values())
        assert choice.score == pytest.approx(max(best, 0.0), abs=1e-9)
        if best > 0.0:
            assert choice.threshold == max(t for t, s in by_threshold.items() if s >= best - 1e-12)


def test_threshold_search_never_fires_when_firing_only_hurts() -> None:
    file = make_file()
    scores = fire_at(file, 20, 60, 80)
    assert optimize_threshold(Corpus((file,)), {file.name: scores}, PROFILE) == (math.inf, 0.0)


def test_results_round_trip(tmp_path: Path) -> None:
    file = make_file()
    corpus = Corpus((file,))
    scores = {file.name: np.random.default_rng(1).random(len(file))}
    write_results(tmp_path, "rand", corpus, scores)
    written = tmp_path / "rand" / "synthetic" / f"rand_{file.name.split('/')[1]}"
    assert written.read_text().splitlines()[0] == "timestamp,value,anomaly_score,label"
    assert written.read_text().splitlines()[41].endswith(",1")
    np.testing.assert_array_equal(
        read_results(tmp_path, "rand", corpus)[file.name], scores[file.name]
    )


def test_halves_follow_their_rule() -> None:
    every = sorted(HALVES["A"] + HALVES["B"])
    assert (HALVES["A"], HALVES["B"]) == (tuple(every[0::2]), tuple(every[1::2]))
    assert len(every) == len(set(every)) == 58
    groups = {name.split("/")[0] for name in every}
    for half in HALVES.values():
        assert {name.split("/")[0] for name in half} == groups


def test_missing_corpus_names_the_data_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEWISE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="EDGEWISE_DATA"):
        nab_dir()
    monkeypatch.setenv("EDGEWISE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="EDGEWISE_DATA"):
        nab_dir()


def test_nab_folder_or_the_datasets_folder_holding_it(tmp_path: Path) -> None:
    labels = tmp_path / "NAB" / "labels"
    labels.mkdir(parents=True)
    (labels / "combined_windows.json").write_text("{}")
    assert nab_dir(tmp_path) == tmp_path / "NAB"
    assert nab_dir(tmp_path / "NAB") == tmp_path / "NAB"
