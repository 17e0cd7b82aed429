"""CUSUM: the behaviour shared by every detector, and what is particular to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from detector_behaviour import BEHAVIOURS, check_recovery

from edgewise.detect import CUSUM

SIZE = 25.0


def make(**overrides: Any) -> CUSUM:
    return CUSUM(**{**overrides})


@pytest.mark.parametrize("check", BEHAVIOURS, ids=lambda c: c.__name__)
def test_behaviour(check: Callable[..., None]) -> None:
    check(make, SIZE)


def test_recovery(caplog: pytest.LogCaptureFixture) -> None:
    check_recovery(make, SIZE, caplog)


def test_a_shift_of_one_spread_is_found_and_a_spike_leaves_the_sums_alone() -> None:
    rng = np.random.default_rng(6)
    detector = CUSUM()
    detector.commission(rng.normal(0.0, 1.0, (500, 1)), ["x"])
    sums = detector.models_["x"]
    high = sums.high  # type: ignore[attr-defined]
    assert detector.detect_one({"x": 40.0}).is_anomaly
    assert sums.high - high <= 2.5 + 1e-9  # type: ignore[attr-defined]
    assert not detector.detect_many(rng.normal(0.0, 1.0, (20, 1)), ["x"]).is_anomaly.any()
    flags = detector.detect_many(rng.normal(1.0, 1.0, (60, 1)), ["x"]).is_anomaly
    assert flags[40:].all()
