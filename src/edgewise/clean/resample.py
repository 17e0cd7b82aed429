"""Irregular readings onto a regular time grid."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from edgewise.stream import Reading, Step, Values, register

from ._check import validate_choice

__all__ = ["Resample"]


@register("resample")
class Resample(Step):
    """Emit each stream's values at the grid times ``k * period`` (seconds since the epoch).

    Default action: **resamples** every reading onto the grid; a reading emits the grid points
    after the previous reading of its stream, up to and including its own timestamp, so it emits
    zero, one or several readings. With ``method="linear"`` a grid point gets the value on the
    line between the readings around it (in time); with ``method="last"`` it gets the value of
    the last reading at or before it. A value missing on either side (for ``"linear"``) or on
    the reading used (for ``"last"``) stays ``nan``, as do names absent from one of them. Nothing
    is emitted before a stream's first reading; readings not later than the previous one of their
    stream are skipped and counted (put :class:`Reorder` and :class:`Deduplicate` first). Emitted
    readings carry no flags; they are readings of the step's own making, numbered 0, 1, 2, ... per
    stream in the order they are emitted.

    Parameters
    ----------
    period
        Seconds between grid points.
    method
        ``"linear"`` or ``"last"``.

    Attributes
    ----------
    last_ : Reading or None
        The stream's previous reading.
    emitted_ : int
        Readings emitted so far (the next one's sequence number).
    skipped_count_ : int
        Readings skipped because they were not later than the previous one of their stream.

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> grid = Resample(period=60.0)
    >>> batch = [Reading("m1", 50.0, {"t": 20.0}), Reading("m1", 170.0, {"t": 23.0})]
    >>> [(r.seq, r.timestamp, r.values) for r in grid.update_many(batch)]
    [(0, 60.0, {'t': 20.25}), (1, 120.0, {'t': 21.75})]
    """

    methods = ("linear", "last")

    last_: Reading | None
    emitted_: int
    skipped_count_: int

    def __init__(self, *, period: float = 60.0, method: str = "linear") -> None:
        self.period = period
        self.method = method

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"period": 25.0, "method": "last"}

    def _value(self, before: Reading, after: Reading, name: str, t: float) -> float:
        v0 = before.values.get(name, math.nan)
        v1 = after.values.get(name, math.nan)
        if self.method == "last":
            return v1 if t >= after.timestamp else v0
        # Weights stay in [0, 1] when rounding puts a grid time a hair outside the interval.
        w = min(max((t - before.timestamp) / (after.timestamp - before.timestamp), 0.0), 1.0)
        return (1.0 - w) * v0 + w * v1 if w < 1.0 else v1

    def _update(self, reading: Reading) -> list[Reading]:
        if not hasattr(self, "last_"):
            validate_choice(self, "method", self.method, self.methods)
            if not self.period > 0.0:
                raise ValueError(f"Resample: period must be > 0, got {self.period!r}")
            self.last_ = None
            self.emitted_ = 0
            self.skipped_count_ = 0
        before = self.last_
        t = reading.timestamp
        if before is None:
            first = math.ceil(t / self.period)
        elif t > before.timestamp:
            first = math.floor(before.timestamp / self.period) + 1
        else:
            self.skipped_count_ += 1
            return []
        self.last_ = reading
        out = []
        for k in range(first, math.floor(t / self.period) + 1):
            grid = k * self.period
            values: Values
            if before is None:
                values = dict(reading.values)
            else:
                names = dict.fromkeys([*before.values, *reading.values])
                values = {name: self._value(before, reading, name, grid) for name in names}
            out.append(
                Reading(reading.stream, grid, values, seq=self.emitted_, received=reading.received)
            )
            self.emitted_ += 1
        return out
