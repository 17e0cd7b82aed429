"""Repeated readings: the same stream and timestamp delivered twice."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import Any

from edgewise.stream import Reading, Step, register

__all__ = ["Deduplicate"]


@register("deduplicate")
class Deduplicate(Step):
    """Drop a reading whose stream and timestamp were already seen.

    Default action: **drops** the repeat (it is counted in ``duplicate_count_``); the first
    reading with a given stream and timestamp passes unchanged, whatever the values of the later
    ones. Memory is bounded: per stream, only timestamps within ``horizon`` seconds of the newest
    one are remembered, so a repeat of a reading older than that is not recognised and passes.
    State is kept per stream (see :class:`~edgewise.stream.Step`).

    Parameters
    ----------
    horizon
        Seconds behind the newest timestamp of a stream within which repeats are caught.

    Attributes
    ----------
    seen_ : set[float]
        The stream's timestamps within the horizon.
    oldest_first_ : list[float]
        The same, as a min-heap, to expire them.
    newest_ : float
        The stream's newest timestamp.
    duplicate_count_ : int
        Readings of the stream dropped so far.

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> dedup = Deduplicate(horizon=600.0)
    >>> batch = [Reading("m1", 0.0, {"t": 20.1}), Reading("m1", 60.0, {"t": 20.3}),
    ...          Reading("m1", 0.0, {"t": 20.1}), Reading("m2", 0.0, {"t": 19.0})]
    >>> [(r.stream, r.timestamp) for r in dedup.update_many(batch)]
    [('m1', 0.0), ('m1', 60.0), ('m2', 0.0)]
    >>> dedup.lane("m1").duplicate_count_, dedup.lane("m2").duplicate_count_
    (1, 0)
    """

    seen_: set[float]
    oldest_first_: list[float]
    newest_: float
    duplicate_count_: int

    def __init__(self, *, horizon: float = 3600.0) -> None:
        self.horizon = horizon

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"horizon": 0.0}

    def _update(self, reading: Reading) -> list[Reading]:
        if not hasattr(self, "seen_"):
            if not self.horizon >= 0.0:
                raise ValueError(f"Deduplicate: horizon must be >= 0, got {self.horizon!r}")
            self.seen_ = set()
            self.oldest_first_ = []
            self.newest_ = -math.inf
            self.duplicate_count_ = 0
        if reading.timestamp in self.seen_:
            self.duplicate_count_ += 1
            return []
        self.seen_.add(reading.timestamp)
        heapq.heappush(self.oldest_first_, reading.timestamp)
        self.newest_ = max(self.newest_, reading.timestamp)
        while self.oldest_first_[0] < self.newest_ - self.horizon:
            self.seen_.discard(heapq.heappop(self.oldest_first_))
        return [reading]
