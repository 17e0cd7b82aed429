"""EWMA control chart: an exponentially smoothed value against its in-control baseline."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from edgewise.stream import register, state_type

from ._base import InputModel, PerInputDetector
from ._moments import EWMoments, spread

__all__ = ["EWMAChart"]


@state_type
class _Chart(InputModel):
    def __init__(self, smoothing: float, span: int) -> None:
        self.smoothing = smoothing
        self.baseline = EWMoments(span)
        self.chart = math.nan
        # The chart's standard deviation, in baseline spreads, once it has settled.
        self.chart_scale = math.sqrt(smoothing / (2.0 - smoothing))

    def _next(self, value: float) -> float:
        if math.isnan(self.chart):
            return value
        return self.smoothing * value + (1.0 - self.smoothing) * self.chart

    def evidence(self, value: float) -> tuple[float, float, float]:
        mean, std = self.baseline.mean, self.baseline.std
        if self.baseline.n < 2:
            return math.nan, mean, std
        deviation = abs(self._next(value) - mean) / spread(std, mean)
        return deviation / self.chart_scale, mean, std

    def learn(self, value: float) -> None:
        self.chart = self._next(value)
        self.baseline.add(value)


@register("ewma_chart")
class EWMAChart(PerInputDetector):
    """EWMA control chart (Roberts, 1959) with an online baseline.

    Each input's chart value ``c = smoothing * x + (1 - smoothing) * c`` is compared with the
    input's baseline, an exponentially weighted mean and spread over about ``span`` normal values:
    the raw score is ``|c - mean| / (spread * sqrt(smoothing / (2 - smoothing)))``, the chart's
    z-score. Averaging makes the chart sensitive to small sustained shifts that single values do
    not show, at the price of diluting a single spike by ``smoothing``. The largest raw score among
    the inputs goes through the shared tail calibration; missing inputs are skipped, and a flagged
    value does not move the chart.

    Parameters
    ----------
    smoothing
        Weight of the newest value in the chart, in (0, 1]; small = sensitive to small shifts.
    span
        Memory of the baseline's mean and spread, in readings.
    warmup, learn_anomalies, epsilon, calibration_window, relearn_after, end_after
        See :class:`~edgewise.detect.CalibratedDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector = EWMAChart(smoothing=0.2)
    >>> for p in rng.normal(3.0, 0.1, 500):
    ...     _ = detector.detect_one({"pressure": float(p)})
    >>> found = [detector.detect_one({"pressure": float(p)})
    ...          for p in rng.normal(3.2, 0.1, 8)]  # a shift of two spreads
    >>> [round(f.score, 2) for f in found]
    [0.1, 0.29, 0.21, 0.27, 0.59, 0.44, 0.53, 0.61]
    >>> print(found[-1].explanation)
    pressure=3.24412 is 2.4 spreads above normal 2.99987
    """

    def __init__(
        self,
        *,
        smoothing: float = 0.2,
        span: int = 500,
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
        self.smoothing = smoothing
        self.span = span

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"smoothing": 0.5, "span": 50, "warmup": 20}

    def _validate(self) -> None:
        super()._validate()
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing}")
        if self.span < 1:
            raise ValueError(f"span must be >= 1, got {self.span}")

    def _new_model(self) -> InputModel:
        return _Chart(self.smoothing, self.span)
