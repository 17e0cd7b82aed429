"""WindowedGaussian: rolling z-scores, and the behaviour shared by every detector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from detector_behaviour import BEHAVIOURS, check_recovery

from edgewise.detect import WindowedGaussian


def make(**overrides: Any) -> WindowedGaussian:
    return WindowedGaussian(**overrides)


@pytest.mark.parametrize("check", BEHAVIOURS, ids=lambda c: c.__name__)
def test_behaviour(check: Callable[..., None]) -> None:
    check(make, 10.0)


def test_recovery(caplog: pytest.LogCaptureFixture) -> None:
    check_recovery(make, 10.0, caplog)


def test_raw_score_is_the_z_score_over_the_window() -> None:
    values = np.random.default_rng(0).normal(5.0, 2.0, 80)
    detector = WindowedGaussian(window=50)
    detector.commission(values[:, None], ["v"])
    window = values[-50:]
    expected = abs(9.0 - window.mean()) / window.std(ddof=1)
    assert detector._raw_score({"v": 9.0}) == pytest.approx(expected, rel=1e-12)
