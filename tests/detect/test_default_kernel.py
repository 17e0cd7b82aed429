"""The default detector's kernel: its state layout, and exactly the bytes recorded in its fixture.

``default_fingerprints.json`` holds, per NAB file, the row count and the SHA-256 of the scores,
the flags and the flags' explanations of a fresh :class:`DefaultDetector` run as the NAB runner
runs it, plus a few files under other parameters and through the learn / score / detect modes
(see ``default_fingerprints.py``). Equal hashes mean equal bytes, so a refactoring that passes
these tests changes no output, not even in the last bit. Regenerate the fixture only for an
intended change of behaviour::

    PYTHONPATH=src python tests/detect/default_fingerprints.py
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from default_fingerprints import FILES, FIXTURE, PARTS, fingerprint

from conftest import need_dataset
from edgewise.bench.nab import Corpus, load_corpus
from edgewise.detect import _default_kernel as kernel
from edgewise.detect.default import DefaultDetector
from edgewise.stream import Verdicts


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads(FIXTURE.read_text())
    return fixture


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(need_dataset("NAB"))


def _assert_same(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """Fail on the first file (in corpus order) whose fingerprints differ, naming it."""
    assert sorted(actual) == sorted(expected), "the files are not the fixture's"
    for name in sorted(expected):
        assert actual[name] == expected[name], f"{name} differs from the fixture"


def test_nab_matches_the_fixture(expected: dict[str, Any], corpus: Corpus) -> None:
    assert len(expected["nab"]) == len(corpus) == 58
    _assert_same(expected["nab"], PARTS["nab"](corpus))


@pytest.mark.parametrize("part", ["variants", "commissioned"])
def test_other_parameters_and_modes_match_the_fixture(
    part: str, expected: dict[str, Any], corpus: Corpus
) -> None:
    _assert_same(expected[part], PARTS[part](corpus))


@pytest.mark.parametrize("name", FILES)
def test_detect_one_gives_the_same_bytes(
    name: str, expected: dict[str, Any], corpus: Corpus
) -> None:
    values = corpus[name].values
    detector = DefaultDetector()
    found = [detector.detect_one({"value": v}) for v in values.tolist()]
    one = Verdicts.of(found)
    assert fingerprint(one) == expected["nab"][name]


def test_new_state_lays_out_parameters_state_then_sections() -> None:
    detector = DefaultDetector(
        difference_lag=3, level_window=2, window=4, memory=10, exclude=1, season_lags=0
    )
    params = detector._params()
    state = kernel.new_state(params)
    assert np.array_equal(state[: kernel.N_PARAMS], params)
    assert state[kernel.S_LOW] == math.inf and state[kernel.S_HIGH] == -math.inf
    bounds = state[kernel.AT_PAST : kernel.AT_SEASON_MEANS + 2]
    assert bounds[0] == kernel.AT_SEASON_MEANS + 2 and bounds[-1] == len(state)
    # Past values; level values and flags; block means; delay codes and flags; 40 codes packed
    # in 5 words; no seasonal arrays without a season.
    assert np.diff(bounds).tolist() == [3, 2, 2, 4, 8, 2, 5, 0, 0]


def test_a_layout_declares_parameters_then_fields_then_sections() -> None:
    layout = kernel.Layout()
    layout.param()
    layout.field()
    with pytest.raises(ValueError):
        layout.param()
    layout.section(lambda params: 1)
    with pytest.raises(ValueError):
        layout.field()
