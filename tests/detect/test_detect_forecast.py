"""HoltResidual: the behaviour shared by every detector, and what is particular to it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from detector_behaviour import BEHAVIOURS, check_recovery

from edgewise.detect import HoltResidual, WindowedGaussian

SIZE = 10.0


def make(**overrides: Any) -> HoltResidual:
    return HoltResidual(**{**overrides})


@pytest.mark.parametrize("check", BEHAVIOURS, ids=lambda c: c.__name__)
def test_behaviour(check: Callable[..., None]) -> None:
    check(make, SIZE)


def test_recovery(caplog: pytest.LogCaptureFixture) -> None:
    check_recovery(make, SIZE, caplog)


def _trend(n: int) -> np.ndarray:
    return 0.05 * np.arange(float(n)) + np.random.default_rng(7).normal(0.0, 0.3, n)


def test_a_value_off_the_trend_is_flagged_where_a_z_score_sees_nothing() -> None:
    X = _trend(601)
    X[-1] -= 1.8  # six noise spreads below the trend, still within the window's range
    holt = HoltResidual().detect_many(X[:, None], ["x"])
    assert not holt.is_anomaly[:-1].any() and holt.is_anomaly[-1]
    assert not WindowedGaussian().detect_many(X[:, None], ["x"]).is_anomaly[-1]


def test_flagged_and_missing_readings_follow_the_forecast() -> None:
    X = _trend(400)
    detector = HoltResidual()
    detector.commission(np.column_stack([X[:300], np.zeros(300)]), ["x", "y"])
    assert detector.detect_one({"x": 100.0, "y": 0.0}).is_anomaly  # flagged: skipped
    detector.detect_one({"x": math.nan, "y": 0.0})  # missing: skipped
    found = detector.detect_many(X[302:, None], ["x"])  # the trend goes on where it was heading
    assert not found.is_anomaly.any()
