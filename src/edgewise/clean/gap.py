"""Silence: a stream that stopped sending."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from edgewise.stream import Reading, Step, register

__all__ = ["GapDetector"]


@dataclass(slots=True)
class _Last:
    timestamp: float  # newest timestamp of the stream
    names: tuple[str, ...]  # value names of its newest reading
    reported: bool = False  # whether tick already emitted the current gap


@register("gap_detector")
class GapDetector(Step):
    """Mark a stream that sent nothing for more than ``max_gap`` seconds, and the reading after.

    Default action: **flags**. Driven by the clock, ``tick(now)`` emits, once per gap, for every
    stream whose newest timestamp is more than ``max_gap`` seconds before ``now``, one reading at
    ``now`` whose values (the names of the stream's last reading) are all ``nan``, flagged
    ``flags["*"] = "gap"``. On ``update``, the first reading after such a silence (its timestamp
    more than ``max_gap`` after the newest earlier one of its stream) passes with
    ``flags["*"] = "after_gap"``, whether or not a tick reported the gap; every other reading
    (an older one arriving late included) passes unchanged. ``"*"`` stands for the whole reading.

    Parameters
    ----------
    max_gap
        Seconds without a reading that still count as normal.

    Attributes
    ----------
    last_ : dict
        Per stream: its newest timestamp, the value names of that reading, and whether the
        current gap was reported.
    gap_count_ : int
        Gaps found so far (by tick or by a reading arriving after one, each gap once).

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> gaps = GapDetector(max_gap=300.0)
    >>> _ = gaps.update(Reading("m1", 0.0, {"t": 20.1}))
    >>> gaps.tick(200.0)
    []
    >>> [(r.stream, r.timestamp, r.values, r.flags) for r in gaps.tick(400.0)]
    [('m1', 400.0, {'t': nan}, {'*': 'gap'})]
    >>> gaps.update(Reading("m1", 450.0, {"t": 20.4}))[0].flags
    {'*': 'after_gap'}
    """

    last_: dict[str, _Last]
    gap_count_: int

    def __init__(self, *, max_gap: float = 300.0) -> None:
        self.max_gap = max_gap

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"max_gap": 50.0}

    def _streams(self) -> dict[str, _Last]:
        if not hasattr(self, "last_"):
            if not self.max_gap >= 0.0:
                raise ValueError(f"GapDetector: max_gap must be >= 0, got {self.max_gap!r}")
            self.last_ = {}
            self.gap_count_ = 0
        return self.last_

    def update(self, reading: Reading) -> list[Reading]:
        streams = self._streams()
        last = streams.get(reading.stream)
        out = reading.with_values(reading.values)
        if last is None or reading.timestamp > last.timestamp:
            if last is not None and reading.timestamp - last.timestamp > self.max_gap:
                out.flags["*"] = "after_gap"
                if not last.reported:
                    self.gap_count_ += 1
            streams[reading.stream] = _Last(reading.timestamp, tuple(reading.values))
        return [out]

    def tick(self, now: float) -> list[Reading]:
        out = []
        for stream, last in self._streams().items():
            if not last.reported and now - last.timestamp > self.max_gap:
                last.reported = True
                self.gap_count_ += 1
                values = dict.fromkeys(last.names, math.nan)
                out.append(Reading(stream, now, values, {"*": "gap"}))
        return out
