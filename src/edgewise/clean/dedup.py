"""Repeated readings: the same stream and timestamp delivered twice."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from edgewise.stream import Reading, Step, register

__all__ = ["Deduplicate"]


@dataclass(slots=True)
class _Seen:
    """The timestamps of one stream within the horizon, as a set and as a min-heap to expire."""

    keys: set[float] = field(default_factory=set)
    oldest_first: list[float] = field(default_factory=list)
    newest: float = -math.inf


@register("deduplicate")
class Deduplicate(Step):
    """Drop a reading whose stream and timestamp were already seen.

    Default action: **drops** the repeat (it is counted in ``duplicate_count_``); the first
    reading with a given stream and timestamp passes unchanged, whatever the values of the later
    ones. Memory is bounded: per stream, only timestamps within ``horizon`` seconds of the newest
    one are remembered, so a repeat of a reading older than that is not recognised and passes.

    Parameters
    ----------
    horizon
        Seconds behind the newest timestamp of a stream within which repeats are caught.

    Attributes
    ----------
    duplicate_count_ : int
        Readings dropped so far.

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> dedup = Deduplicate(horizon=600.0)
    >>> batch = [Reading("m1", 0.0, {"t": 20.1}), Reading("m1", 60.0, {"t": 20.3}),
    ...          Reading("m1", 0.0, {"t": 20.1}), Reading("m2", 0.0, {"t": 19.0})]
    >>> [(r.stream, r.timestamp) for r in dedup.update_many(batch)]
    [('m1', 0.0), ('m1', 60.0), ('m2', 0.0)]
    >>> dedup.duplicate_count_
    1
    """

    seen_: dict[str, _Seen]
    duplicate_count_: int

    def __init__(self, *, horizon: float = 3600.0) -> None:
        self.horizon = horizon

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"horizon": 0.0}

    def update(self, reading: Reading) -> list[Reading]:
        if not hasattr(self, "seen_"):
            if not self.horizon >= 0.0:
                raise ValueError(f"Deduplicate: horizon must be >= 0, got {self.horizon!r}")
            self.seen_ = {}
            self.duplicate_count_ = 0
        seen = self.seen_.setdefault(reading.stream, _Seen())
        if reading.timestamp in seen.keys:
            self.duplicate_count_ += 1
            return []
        seen.keys.add(reading.timestamp)
        heapq.heappush(seen.oldest_first, reading.timestamp)
        seen.newest = max(seen.newest, reading.timestamp)
        while seen.oldest_first[0] < seen.newest - self.horizon:
            seen.keys.discard(heapq.heappop(seen.oldest_first))
        return [reading]
