"""TailCalibration: Gaussian tail calibration of raw scores over a bounded window."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from edgewise.detect._calibration import FLAG_AT, TailCalibration


def _fitted(raws: np.ndarray, *, window: int = 500, epsilon: float = 1e-5) -> TailCalibration:
    calibration = TailCalibration(window=window, epsilon=epsilon)
    for raw in raws.tolist():
        calibration.learn(raw)
    return calibration


def test_score_is_half_where_the_tail_probability_is_epsilon() -> None:
    raws = np.random.default_rng(0).normal(10.0, 2.0, 500)
    calibration = _fitted(raws, epsilon=1e-4)
    median, upper = np.quantile(raws, 0.5), np.quantile(raws, 0.95)
    z = 3.719016485455709  # P(Z >= z) = 1e-4
    at = median + z * (upper - median) / 1.6448536269514722
    assert calibration.tail(at) == pytest.approx(1e-4, rel=1e-9)
    assert calibration.score(at) == pytest.approx(FLAG_AT, abs=1e-12)
    assert calibration.score(at - 0.01) < FLAG_AT < calibration.score(at + 0.01)


def test_scores_are_monotone_and_within_bounds() -> None:
    calibration = _fitted(np.random.default_rng(1).exponential(1.0, 500))
    scores = [calibration.score(raw) for raw in np.linspace(-5.0, 50.0, 200).tolist()]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores)
    assert scores[0] < 1e-6 and scores[-1] == 1.0


def test_nan_and_infinite_raw_scores() -> None:
    calibration = _fitted(np.arange(100.0))
    calibration.learn(math.nan)
    calibration.learn(math.inf)
    assert len(calibration) == 100
    assert calibration.score(math.nan) == 0.0
    assert calibration.score(math.inf) == 1.0


def test_unknown_until_two_raw_scores() -> None:
    calibration = TailCalibration(window=10, epsilon=1e-5)
    assert calibration.score(1e9) == 0.0
    calibration.learn(1.0)
    assert calibration.score(1e9) == 0.0
    calibration.learn(2.0)
    assert calibration.score(1e9) == 1.0


def test_window_is_bounded_and_follows_the_latest_scores() -> None:
    rng = np.random.default_rng(2)
    calibration = _fitted(
        np.concatenate([rng.normal(100.0, 1.0, 300), rng.normal(0, 1, 50)]), window=50
    )
    assert len(calibration) == 50
    assert calibration.score(5.0) >= FLAG_AT  # judged against the last 50 only


def test_a_copy_mid_stream_goes_on_alike() -> None:
    calibration = _fitted(np.random.default_rng(3).normal(size=80), window=50)
    restored = copy.deepcopy(calibration)
    for raw in [0.5, 3.0, -1.0]:
        calibration.learn(raw)
        restored.learn(raw)
    assert restored.score(2.5) == calibration.score(2.5)
