"""Running means and spreads shared by the detectors: over a sliding window, or exponentially
weighted. Both are plain, pickleable objects with bounded state."""

from __future__ import annotations

import math
from collections import deque

from edgewise.stream._state import state_type

__all__ = ["EWMoments", "SlidingMoments", "spread"]

# A constant signal has zero spread; dividing by this fraction of its level instead keeps every
# deviation finite (and any change of a constant signal very far from normal).
_RELATIVE_FLOOR = 1e-12


def spread(std: float, mean: float) -> float:
    """``std``, floored at a tiny fraction of ``mean`` so that deviations never divide by zero."""
    return max(std, _RELATIVE_FLOOR * max(1.0, abs(mean)))


@state_type
class SlidingMoments:
    """Mean and sample standard deviation of the last ``size`` values, O(1) per value.

    Welford's update, with removal of the value leaving the window; the sums are recomputed
    exactly once every ``size`` values so that rounding cannot build up over a long stream.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: deque[float] = deque()
        self.mean = 0.0
        self._m2 = 0.0
        self._since_exact = 0

    def __len__(self) -> int:
        return len(self.values)

    def add(self, x: float) -> None:
        values = self.values
        old_mean = self.mean
        if len(values) == self.size:
            old = values.popleft()
            values.append(x)
            self.mean += (x - old) / self.size
            self._m2 += (x - old) * (x - self.mean + old - old_mean)
        else:
            values.append(x)
            self.mean += (x - old_mean) / len(values)
            self._m2 += (x - old_mean) * (x - self.mean)
        self._since_exact += 1
        if self._since_exact >= self.size:
            self.mean = math.fsum(values) / len(values)
            self._m2 = math.fsum((v - self.mean) ** 2 for v in values)
            self._since_exact = 0

    @property
    def std(self) -> float:
        """Sample standard deviation (nan below two values)."""
        n = len(self.values)
        return math.sqrt(max(self._m2, 0.0) / (n - 1)) if n > 1 else math.nan


@state_type
class EWMoments:
    """Exponentially weighted mean and standard deviation.

    Each value weighs ``max(1/n, 1/span)``: the plain mean and variance of the first ``span``
    values, then an exponential forgetting with a memory of about ``span`` values.
    """

    def __init__(self, span: int) -> None:
        self.span = span
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        weight = max(1.0 / self.n, 1.0 / self.span)
        delta = x - self.mean
        self.mean += weight * delta
        self.var = (1.0 - weight) * (self.var + weight * delta * delta)

    @property
    def std(self) -> float:
        """Standard deviation (nan before the first value)."""
        return math.sqrt(self.var) if self.n else math.nan
