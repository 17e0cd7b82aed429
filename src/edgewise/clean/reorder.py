"""Out-of-order arrival: hold readings back a little and emit them in timestamp order."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import Any

from edgewise.stream import Reading, Step, register

from ._check import validate_choice

__all__ = ["Reorder"]


@register("reorder")
class Reorder(Step):
    """Hold each stream's readings up to ``lateness`` seconds and emit them in timestamp order.

    Default action: **drops** a reading that arrives too late and counts it in ``late_count_``;
    with ``action="flag"`` it is emitted at once, out of order, with ``flags["*"] = "late"``.

    Each stream has a watermark: the newest timestamp seen minus ``lateness`` (``tick(now)``
    also moves it to ``now - lateness``). Held readings at or before the watermark are emitted, in
    timestamp order (ties in arrival order); a reading that arrives with a timestamp before the
    watermark is late, since readings after it may already be out. So readings at most
    ``lateness`` seconds behind the newest one of their stream are put back in order, and each
    stream's output is in timestamp order. ``flush`` emits everything held.

    Parameters
    ----------
    lateness
        Seconds a reading may arrive behind the newest reading of its stream.
    action
        ``"drop"`` or ``"flag"``: what happens to a late reading.

    Attributes
    ----------
    held_ : list[tuple[float, int, Reading]]
        The readings held back, as a min-heap by (timestamp, arrival).
    watermark_ : float
        Everything at or before it has been emitted.
    arrivals_ : int
        Readings held so far (the tie-breaker of equal timestamps).
    late_count_ : int
        Late readings so far (dropped or flagged).

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> reorder = Reorder(lateness=120.0)
    >>> arrivals = [0.0, 120.0, 60.0, 180.0, 240.0, 30.0, 360.0]
    >>> out = reorder.update_many([Reading("m1", t, {"t": 20.0}) for t in arrivals])
    >>> [r.timestamp for r in out + reorder.flush()]
    [0.0, 60.0, 120.0, 180.0, 240.0, 360.0]
    >>> reorder.lane("m1").late_count_
    1
    """

    actions = ("drop", "flag")

    held_: list[tuple[float, int, Reading]]
    watermark_: float
    arrivals_: int
    late_count_: int

    def __init__(self, *, lateness: float = 60.0, action: str = "drop") -> None:
        self.lateness = lateness
        self.action = action

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"lateness": 0.0, "action": "flag"}

    def _start(self) -> None:
        if not hasattr(self, "held_"):
            validate_choice(self, "action", self.action, self.actions)
            if not self.lateness >= 0.0:
                raise ValueError(f"Reorder: lateness must be >= 0, got {self.lateness!r}")
            self.held_ = []
            self.watermark_ = -math.inf
            self.arrivals_ = 0
            self.late_count_ = 0

    def _release(self, watermark: float) -> list[Reading]:
        self.watermark_ = max(self.watermark_, watermark)
        out = []
        while self.held_ and self.held_[0][0] <= self.watermark_:
            out.append(heapq.heappop(self.held_)[2])
        return out

    def _update(self, reading: Reading) -> list[Reading]:
        self._start()
        if reading.timestamp < self.watermark_:
            self.late_count_ += 1
            if self.action == "drop":
                return []
            late = reading.with_values(reading.values)
            late.flags["*"] = "late"
            return [late]
        heapq.heappush(self.held_, (reading.timestamp, self.arrivals_, reading))
        self.arrivals_ += 1
        return self._release(reading.timestamp - self.lateness)

    def _tick(self, now: float) -> list[Reading]:
        self._start()
        return self._release(now - self.lateness)

    def _flush(self) -> list[Reading]:
        self._start()
        newest = max((t for t, _, _ in self.held_), default=self.watermark_)
        return self._release(newest)
