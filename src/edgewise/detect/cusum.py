"""Two-sided CUSUM: cumulative sums of standardised deviations, upwards and downwards."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from edgewise.stream import register, state_type

from ._base import InputModel, PerInputDetector
from ._moments import EWMoments, spread

__all__ = ["CUSUM"]


# A value enters the sums winsorised at this many spreads (the robust CUSUM of Lucas & Crosier,
# 1982): a spike moves them little, while a sustained shift keeps adding up, flagged or not.
_WINSOR = 3.0


@state_type
class _Sums(InputModel):
    def __init__(self, drift: float, span: int, settle: int) -> None:
        self.drift = drift
        self.settle = max(settle, 2)
        self.baseline = EWMoments(span)
        self.high = 0.0
        self.low = 0.0

    def _next(self, value: float, cap: float = math.inf) -> tuple[float, float]:
        z = (value - self.baseline.mean) / spread(self.baseline.std, self.baseline.mean)
        z = max(-cap, min(cap, z))
        return max(0.0, self.high + z - self.drift), max(0.0, self.low - z - self.drift)

    def evidence(self, value: float) -> tuple[float, float, float]:
        mean, std = self.baseline.mean, self.baseline.std
        if self.baseline.n < 2:
            return math.nan, mean, std
        return max(self._next(value)), mean, std

    def learn(self, value: float) -> None:
        self.skip(value)
        self.baseline.add(value)

    def skip(self, value: float) -> None:
        # The sums are the test's memory, not the model of normal: a flagged value enters them
        # (winsorised), the baseline only learns normal values. They start once the baseline is
        # settled: deviations from an immature one are huge and would take long to drain.
        if self.baseline.n >= self.settle and not math.isnan(value):
            self.high, self.low = self._next(value, _WINSOR)


@register("cusum")
class CUSUM(PerInputDetector):
    """Two-sided CUSUM (Page, 1954) with an online baseline.

    Each input's value is standardised against its baseline (an exponentially weighted mean and
    spread over about ``span`` normal values), ``z``; two sums accumulate the evidence of a shift,
    ``S+ = max(0, S+ + z - drift)`` and ``S- = max(0, S- - z - drift)``, and the raw score is the
    larger; the sums start once the baseline has ``warmup // 2`` values (when the calibration
    starts too). A shift smaller than one spread, invisible value by value, adds up until it shows.
    Every value enters the sums winsorised at 3 spreads (the robust CUSUM of Lucas & Crosier,
    1982), flagged values too: a spike hardly raises them, and a sustained shift keeps adding up
    while it is flagged; only the baseline is kept from learning flagged values. The largest raw
    score among the inputs goes through the shared tail calibration; missing inputs are skipped.

    Parameters
    ----------
    drift
        Allowance ``k``, in spreads: deviations smaller than this do not accumulate (tune it to half
        the smallest shift worth detecting).
    span
        Memory of the baseline's mean and spread, in readings.
    warmup, learn_anomalies, epsilon, calibration_window, relearn_after, end_after
        See :class:`~edgewise.detect.CalibratedDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector = CUSUM(drift=0.5)
    >>> for v in rng.normal(0.0, 1.0, 500):
    ...     _ = detector.detect_one({"vibration": float(v)})
    >>> found = [detector.detect_one({"vibration": float(v)})
    ...          for v in rng.normal(1.0, 1.0, 10)]  # a shift of one spread
    >>> [round(f.score, 2) for f in found]
    [0.07, 0.14, 0.06, 0.05, 0.17, 0.25, 0.31, 0.43, 0.63, 0.59]
    >>> [f.is_anomaly for f in found].index(True)  # readings into the shift before the first flag
    8
    """

    def __init__(
        self,
        *,
        drift: float = 0.5,
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
        self.drift = drift
        self.span = span

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"drift": 1.0, "span": 50, "warmup": 20}

    def _validate(self) -> None:
        super()._validate()
        if self.drift < 0.0:
            raise ValueError(f"drift must be >= 0, got {self.drift}")
        if self.span < 1:
            raise ValueError(f"span must be >= 1, got {self.span}")

    def _new_model(self) -> InputModel:
        return _Sums(self.drift, self.span, settle=self.warmup // 2)
