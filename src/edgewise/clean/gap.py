"""Silence: a stream that stopped sending."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from edgewise.stream import Reading, Step, register

__all__ = ["GapDetector"]


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

    **Sequence numbers.** The gap markers are readings of its own making, so the step numbers
    everything it emits for a stream, markers and passed readings alike: 0, 1, 2, ... in the
    order it emits them.

    Parameters
    ----------
    max_gap
        Seconds without a reading that still count as normal.

    Attributes
    ----------
    newest_ : float
        The stream's newest timestamp.
    names_ : list[str]
        The value names of that reading.
    reported_ : bool
        Whether a tick already emitted the current gap.
    emitted_ : int
        Readings emitted so far (the next one's sequence number).
    gap_count_ : int
        Gaps found so far (by tick or by a reading arriving after one, each gap once).

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> gaps = GapDetector(max_gap=300.0)
    >>> _ = gaps.update(Reading("m1", 0.0, {"t": 20.1}))
    >>> gaps.tick(200.0)
    []
    >>> [(r.stream, r.seq, r.timestamp, r.values, r.flags) for r in gaps.tick(400.0)]
    [('m1', 1, 400.0, {'t': nan}, {'*': 'gap'})]
    >>> out = gaps.update(Reading("m1", 450.0, {"t": 20.4}))
    >>> out[0].seq, out[0].flags
    (2, {'*': 'after_gap'})
    """

    newest_: float
    names_: list[str]
    reported_: bool
    emitted_: int
    gap_count_: int

    def __init__(self, *, max_gap: float = 300.0) -> None:
        self.max_gap = max_gap

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"max_gap": 50.0}

    def _start(self) -> None:
        if not hasattr(self, "newest_"):
            if not self.max_gap >= 0.0:
                raise ValueError(f"GapDetector: max_gap must be >= 0, got {self.max_gap!r}")
            self.newest_ = -math.inf
            self.names_ = []
            self.reported_ = False
            self.emitted_ = 0
            self.gap_count_ = 0

    def _emit(self, reading: Reading) -> Reading:
        out = reading.numbered(self.emitted_)
        self.emitted_ += 1
        return out

    def _update(self, reading: Reading) -> list[Reading]:
        self._start()
        out = self._emit(reading)
        if reading.timestamp > self.newest_:
            if self.newest_ > -math.inf and reading.timestamp - self.newest_ > self.max_gap:
                out.flags["*"] = "after_gap"
                if not self.reported_:
                    self.gap_count_ += 1
            self.newest_ = reading.timestamp
            self.names_ = list(reading.values)
            self.reported_ = False
        return [out]

    def _tick(self, now: float) -> list[Reading]:
        if not hasattr(self, "newest_") or self.reported_ or now - self.newest_ <= self.max_gap:
            return []
        self.reported_ = True
        self.gap_count_ += 1
        marker = Reading(
            self.stream_ or "", now, dict.fromkeys(self.names_, math.nan), {"*": "gap"}
        )
        return [self._emit(marker)]
