"""Linear interpolation in a stream: hold a gap back until the value after it arrives."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from edgewise.stream import Reading, Step, register, state_type

from ._base import flag_imputed

__all__ = ["Linear"]


@state_type
@dataclass(slots=True)
class _Held:
    reading: Reading
    waiting: set[str]  # names still missing, waiting for their next present value
    arrival: int  # index of the reading in the stream


def _interpolate(t0: float, v0: float, t1: float, v1: float, t: float) -> float:
    span = t1 - t0
    # Out-of-order or repeated timestamps: stay between the two values rather than extrapolate.
    w = min(max((t - t0) / span, 0.0), 1.0) if span > 0 else 0.5
    return v0 + w * (v1 - v0)


@register("linear")
class Linear(Step):
    """Fill a missing value on the line between the last present value and the next one.

    A reading with a missing value is held back until the next present value of that name
    arrives, then filled by linear interpolation in time (timestamps) and released; readings
    behind it wait too, so the output keeps the input's order. A value whose next present value
    has not arrived after ``max_delay`` more readings is filled with the last present value
    instead (as :class:`~edgewise.impute.LastValue`), so a long outage does not stall the stream.

    **Delay**: up to ``max_delay`` readings (the attribute ``delay``); a stream without missing
    values passes through with no delay. A value missing before any value of its name was seen
    stays missing and is not waited for.

    Parameters
    ----------
    max_delay
        Most readings a reading is held back for.

    Attributes
    ----------
    delay : int
        Readings this step may hold a reading back for (``max_delay``).
    imputed_count_ : int
        Values filled so far.

    Examples
    --------
    >>> from edgewise.stream import Reading
    >>> linear = Linear(max_delay=5)
    >>> linear.update(Reading("s", 0.0, {"temp": 10.0}))[0].values
    {'temp': 10.0}
    >>> linear.update(Reading("s", 60.0, {"temp": None}))
    []
    >>> [(r.values["temp"], r.flags) for r in linear.update(Reading("s", 240.0, {"temp": 18.0}))]
    [(12.0, {'temp': 'imputed'}), (18.0, {})]
    """

    held_: deque[_Held]
    last_: dict[str, tuple[float, float]]
    seen_: int
    imputed_count_: int

    def __init__(self, *, max_delay: int = 24) -> None:
        self.max_delay = max_delay

    @property
    def delay(self) -> int:
        return self.max_delay

    def _update(self, reading: Reading) -> list[Reading]:
        if not hasattr(self, "held_"):
            if isinstance(self.max_delay, bool) or not isinstance(self.max_delay, int):
                raise ValueError(f"max_delay must be an int, got {self.max_delay!r}")
            if self.max_delay < 0:
                raise ValueError(f"max_delay must be >= 0, got {self.max_delay}")
            self.held_ = deque()
            self.last_ = {}
            self.seen_ = 0
            self.imputed_count_ = 0
        t = reading.timestamp
        for name, value in reading.values.items():
            if math.isnan(value):
                continue
            if name in self.last_:
                t0, v0 = self.last_[name]
                for held in self.held_:
                    if name in held.waiting:
                        held.waiting.discard(name)
                        v = _interpolate(t0, v0, t, value, held.reading.timestamp)
                        self._fill(held.reading, name, v)
            self.last_[name] = (t, value)
        waiting = {k for k, v in reading.values.items() if math.isnan(v) and k in self.last_}
        self.held_.append(_Held(reading.with_values(dict(reading.values)), waiting, self.seen_))
        self.seen_ += 1
        return self._release(force=False)

    def _flush(self) -> list[Reading]:
        return self._release(force=True) if hasattr(self, "held_") else []

    def _fill(self, reading: Reading, name: str, value: float) -> None:
        reading.values[name] = value
        flag_imputed(reading, [name])
        self.imputed_count_ += 1

    def _release(self, *, force: bool) -> list[Reading]:
        released = []
        while self.held_:
            head = self.held_[0]
            if not (force or not head.waiting or self.seen_ - 1 - head.arrival >= self.max_delay):
                break
            self.held_.popleft()
            # Gave up waiting: fall back to the last present value (in the reading's order).
            for name in [k for k in head.reading.values if k in head.waiting]:
                self._fill(head.reading, name, self.last_[name][1])
            released.append(head.reading)
        return released
