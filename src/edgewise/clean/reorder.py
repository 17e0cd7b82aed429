"""Out-of-order arrival: hold readings back a little and emit them in timestamp order."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from edgewise.stream import Reading, Step, register

from ._check import validate_choice

__all__ = ["Reorder"]


@dataclass(slots=True)
class _Buffer:
    """Readings of one stream held back, by (timestamp, arrival), and the stream's watermark."""

    held: list[tuple[float, int, Reading]] = field(default_factory=list)
    watermark: float = -math.inf  # everything at or before it has been emitted


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
    >>> reorder.late_count_
    1
    """

    actions = ("drop", "flag")

    buffers_: dict[str, _Buffer]
    late_count_: int
    arrivals_: int

    def __init__(self, *, lateness: float = 60.0, action: str = "drop") -> None:
        self.lateness = lateness
        self.action = action

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"lateness": 0.0, "action": "flag"}

    def _buffers(self) -> dict[str, _Buffer]:
        if not hasattr(self, "buffers_"):
            validate_choice(self, "action", self.action, self.actions)
            if not self.lateness >= 0.0:
                raise ValueError(f"Reorder: lateness must be >= 0, got {self.lateness!r}")
            self.buffers_ = {}
            self.late_count_ = 0
            self.arrivals_ = 0
        return self.buffers_

    @staticmethod
    def _release(buffer: _Buffer, watermark: float) -> list[Reading]:
        buffer.watermark = max(buffer.watermark, watermark)
        out = []
        while buffer.held and buffer.held[0][0] <= buffer.watermark:
            out.append(heapq.heappop(buffer.held)[2])
        return out

    def update(self, reading: Reading) -> list[Reading]:
        buffer = self._buffers().setdefault(reading.stream, _Buffer())
        if reading.timestamp < buffer.watermark:
            self.late_count_ += 1
            if self.action == "drop":
                return []
            late = reading.with_values(reading.values)
            late.flags["*"] = "late"
            return [late]
        heapq.heappush(buffer.held, (reading.timestamp, self.arrivals_, reading))
        self.arrivals_ += 1
        return self._release(buffer, reading.timestamp - self.lateness)

    def tick(self, now: float) -> list[Reading]:
        buffers = self._buffers()
        return [out for b in buffers.values() for out in self._release(b, now - self.lateness)]

    def flush(self) -> list[Reading]:
        buffers = self._buffers()
        return [out for b in buffers.values() for out in self._release(b, _newest(b))]


def _newest(buffer: _Buffer) -> float:
    return max((t for t, _, _ in buffer.held), default=buffer.watermark)
