"""Clock skew per device: how far behind the agent's clock each device's clock runs.

Every reading keeps its device timestamp and the time the agent received it. Their difference
is the device's skew plus the reading's latency, which is never negative and jitters. The
smallest difference over a while is the skew plus the smallest latency, the best a one-way
observer can know; a single wrong timestamp would drag a plain minimum with it, so each device
keeps the minimum of every ``bucket_s`` of receive time and reports the median of its last
``buckets`` minima: a few bad minutes move a few minima, not the median, and a clock stepped by
NTP is followed within half the window.

A device is what a ``streams`` entry of the configuration names in ``device`` (by default the
entry's ``match``), so there are never more devices, nor metric labels, than entries.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable

__all__ = ["ClockSkew", "SkewEstimator"]


class SkewEstimator:
    """One device's skew plus minimal latency: the median of per-bucket minimum offsets.

    >>> est = SkewEstimator(bucket_s=60.0, buckets=5)
    >>> for minute in range(5):  # the device's clock is 2 s behind; latency 0.1 s to 0.5 s
    ...     for k in range(5):
    ...         received = 1_700_000_040 + 60 * minute + 10 * k
    ...         est.add(received, received - 2.0 - 0.1 - 0.1 * k)
    >>> est.add(1_700_000_290, 1_700_000_340)  # one timestamp 50 s in the future: outvoted
    >>> round(est.estimate(), 3)
    2.1
    """

    def __init__(self, *, bucket_s: float = 60.0, buckets: int = 10) -> None:
        if bucket_s <= 0.0 or buckets < 1:
            raise ValueError(f"bucket_s must be > 0 and buckets >= 1, got {bucket_s}, {buckets}")
        self.bucket_s = bucket_s
        self.buckets = buckets
        self._minima: deque[tuple[int, float]] = deque()  # (bucket of receive time, minimum)

    def add(self, received: float, timestamp: float) -> None:
        """One reading's receive time (the agent's clock) and device time."""
        offset = received - timestamp
        bucket = math.floor(received / self.bucket_s)
        if self._minima and bucket <= self._minima[-1][0]:
            # The current bucket, or the agent's own clock stepped back: fold it in the last.
            last, smallest = self._minima[-1]
            if offset < smallest:
                self._minima[-1] = (last, offset)
            return
        self._minima.append((bucket, offset))
        while self._minima[0][0] <= bucket - self.buckets:
            self._minima.popleft()

    def estimate(self) -> float | None:
        """Receive minus device time at its smallest, robustly (None before any reading)."""
        minima = list(self._minima)  # a copy: the metrics thread reads while the worker adds
        return statistics.median(m for _, m in minima) if minima else None


class ClockSkew:
    """A :class:`SkewEstimator` per device; ``device_of(stream)`` names a stream's device."""

    def __init__(self, device_of: Callable[[str], str | None]) -> None:
        self.device_of = device_of
        self.devices: dict[str, SkewEstimator] = {}
        self._of_stream: dict[str, SkewEstimator | None] = {}

    def add(self, stream: str, received: float, timestamp: float) -> None:
        """A reading of ``stream``; streams of no device are not estimated."""
        estimator = self._of_stream.get(stream)
        if estimator is None:
            if stream in self._of_stream:
                return
            device = self.device_of(stream)
            if device is not None:
                estimator = self.devices.setdefault(device, SkewEstimator())
            self._of_stream[stream] = estimator
            if estimator is None:
                return
        estimator.add(received, timestamp)

    def remap(self, device_of: Callable[[str], str | None], devices: set[str]) -> None:
        """A new configuration: streams are mapped anew; only the ``devices`` it names stay."""
        self.device_of = device_of
        self._of_stream.clear()
        self.devices = {d: e for d, e in self.devices.items() if d in devices}

    def estimates(self) -> dict[str, float]:
        """Each device's estimate, in seconds (receive minus device time)."""
        found = {device: est.estimate() for device, est in list(self.devices.items())}
        return {device: value for device, value in found.items() if value is not None}
