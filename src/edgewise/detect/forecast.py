"""Forecasting residual: each input's one-step forecast error (Holt's linear trend), scaled."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from edgewise.stream import register, state_type

from ._base import InputModel, PerInputDetector
from ._moments import EWMoments, spread

__all__ = ["HoltResidual"]


@state_type
class _Holt(InputModel):
    def __init__(self, level_smoothing: float, trend_smoothing: float, span: int) -> None:
        self.alpha = level_smoothing
        self.beta = trend_smoothing
        self.level = math.nan
        self.trend = 0.0
        self.residuals = EWMoments(span)

    def evidence(self, value: float) -> tuple[float, float, float]:
        # Residuals are judged once a few are known: their spread is meaningless before.
        if self.residuals.n < 2:
            return math.nan, self.level + self.trend, math.nan
        expected = self.level + self.trend + self.residuals.mean
        scale = self.residuals.std
        return abs(value - expected) / spread(scale, expected), expected, scale

    def learn(self, value: float) -> None:
        if math.isnan(self.level):
            self.level = value
            return
        forecast = self.level + self.trend
        self.residuals.add(value - forecast)
        level = self.alpha * value + (1.0 - self.alpha) * forecast
        self.trend = self.beta * (level - self.level) + (1.0 - self.beta) * self.trend
        self.level = level

    def skip(self, value: float) -> None:
        # No value to learn: follow the forecast, so the trend keeps its pace through gaps.
        del value
        self.level += self.trend


@register("holt_residual")
class HoltResidual(PerInputDetector):
    """Forecasting-residual detector: Holt's linear trend forecast, residual in residual spreads.

    Each input's level and trend are smoothed (Holt, 1957) to forecast its next value; the raw
    score is the absolute one-step forecast error, less the residuals' running mean, over their
    running spread (exponentially weighted over about ``span`` normal readings). Unlike a rolling
    z-score it follows trends and random walks, so it judges a value against where the signal was
    heading rather than where it has been. A flagged or missing value is replaced by the forecast,
    so neither derails the level or the trend. The largest raw score among the inputs goes through
    the shared tail calibration.

    Parameters
    ----------
    level_smoothing
        Weight of the newest value in the level, in (0, 1].
    trend_smoothing
        Weight of the newest level change in the trend, in [0, 1]; 0 = no trend.
    span
        Memory of the residuals' mean and spread, in readings.
    warmup, learn_anomalies, epsilon, calibration_window, relearn_after, end_after
        See :class:`~edgewise.detect.CalibratedDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector = HoltResidual()
    >>> for t in range(400):  # a warming motor: a trend plus noise
    ...     _ = detector.detect_one({"temp": 40.0 + 0.05 * t + float(rng.normal(0.0, 0.2))})
    >>> round(detector.score_one({"temp": 60.0}), 3)  # right on the trend
    0.016
    >>> found = detector.detect_one({"temp": 59.0})  # a degree below it
    >>> round(found.score, 3), found.is_anomaly
    (0.619, True)
    """

    def __init__(
        self,
        *,
        level_smoothing: float = 0.5,
        trend_smoothing: float = 0.1,
        span: int = 200,
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
        self.level_smoothing = level_smoothing
        self.trend_smoothing = trend_smoothing
        self.span = span

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"level_smoothing": 0.9, "trend_smoothing": 0.0, "span": 30, "warmup": 10}

    def _validate(self) -> None:
        super()._validate()
        if not 0.0 < self.level_smoothing <= 1.0:
            raise ValueError(f"level_smoothing must be in (0, 1], got {self.level_smoothing}")
        if not 0.0 <= self.trend_smoothing <= 1.0:
            raise ValueError(f"trend_smoothing must be in [0, 1], got {self.trend_smoothing}")
        if self.span < 1:
            raise ValueError(f"span must be >= 1, got {self.span}")

    def _new_model(self) -> InputModel:
        return _Holt(self.level_smoothing, self.trend_smoothing, self.span)
