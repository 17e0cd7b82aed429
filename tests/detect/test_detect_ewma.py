"""EWMAChart: the behaviour shared by every detector, and what is particular to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from detector_behaviour import BEHAVIOURS, check_recovery

from edgewise.detect import EWMAChart, WindowedGaussian

SIZE = 25.0


def make(**overrides: Any) -> EWMAChart:
    return EWMAChart(**{**overrides})


@pytest.mark.parametrize("check", BEHAVIOURS, ids=lambda c: c.__name__)
def test_behaviour(check: Callable[..., None]) -> None:
    check(make, SIZE)


def test_recovery(caplog: pytest.LogCaptureFixture) -> None:
    check_recovery(make, SIZE, caplog)


def _first_flag(detector: object, shift: float) -> int:
    rng = np.random.default_rng(5)
    assert isinstance(detector, EWMAChart | WindowedGaussian)
    detector.commission(rng.normal(0.0, 1.0, (500, 1)), ["x"])
    flags = detector.detect_many(rng.normal(shift, 1.0, (200, 1)), ["x"]).is_anomaly
    return int(np.argmax(flags)) if flags.any() else len(flags)


def test_a_small_sustained_shift_is_found_sooner_than_by_a_z_score() -> None:
    assert _first_flag(EWMAChart(smoothing=0.1), 1.5) < _first_flag(WindowedGaussian(), 1.5)
