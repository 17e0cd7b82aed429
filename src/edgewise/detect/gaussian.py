"""Windowed Gaussian: each input's rolling z-score against its last ``window`` normal values."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from edgewise.stream import register, state_type

from ._base import InputModel, PerInputDetector
from ._moments import SlidingMoments, spread

__all__ = ["WindowedGaussian"]


@state_type
class _RollingZ(InputModel):
    def __init__(self, window: int) -> None:
        self.moments = SlidingMoments(window)

    def evidence(self, value: float) -> tuple[float, float, float]:
        mean, std = self.moments.mean, self.moments.std
        if math.isnan(std):
            return math.nan, mean, std
        return abs(value - mean) / spread(std, mean), mean, std

    def learn(self, value: float) -> None:
        self.moments.add(value)


@register("windowed_gaussian")
class WindowedGaussian(PerInputDetector):
    """Rolling z-score: how many standard deviations a value lies from its recent normal mean.

    Each input keeps the last ``window`` values it learned; a new value's raw score is its
    absolute z-score against their mean and sample standard deviation, and the largest one among
    the inputs goes through the shared tail calibration. The classic baseline (NAB's "windowed
    Gaussian"): fast and explainable, blind to anything a single value does not show (slow drifts,
    changed correlations). Missing inputs are skipped.

    Parameters
    ----------
    window
        How many recent normal values of each input the mean and spread are taken over.
    warmup, learn_anomalies, epsilon, calibration_window, relearn_after, end_after
        See :class:`~edgewise.detect.CalibratedDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector = WindowedGaussian(window=100)
    >>> for t in rng.normal(20.0, 0.5, 300):
    ...     _ = detector.detect_one({"temp": float(t)})
    >>> round(detector.score_one({"temp": 21.0}), 3)
    0.12
    >>> found = detector.detect_one({"temp": 22.5})
    >>> round(found.score, 3), found.is_anomaly
    (0.64, True)
    >>> print(found.explanation)
    temp=22.5 is 4.6 spreads above normal 19.931
    """

    def __init__(
        self,
        *,
        window: int = 100,
        warmup: int = 100,
        learn_anomalies: bool = False,
        epsilon: float = 1e-5,
        calibration_window: int = 1000,
        relearn_after: int | None = 200,
        end_after: int = 30,
    ) -> None:
        super().__init__(
            warmup=warmup,
            learn_anomalies=learn_anomalies,
            epsilon=epsilon,
            calibration_window=calibration_window,
            relearn_after=relearn_after,
            end_after=end_after,
        )
        self.window = window

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"window": 20, "warmup": 10, "learn_anomalies": True}

    def _validate(self) -> None:
        super()._validate()
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")

    def _new_model(self) -> InputModel:
        return _RollingZ(self.window)
