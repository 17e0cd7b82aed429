"""The gate after decoding: configured streams, their units, and readings in time order.

The gate never raises on bad data: each reading it turns away is counted by kind in
:attr:`Gate.counts` and logged, at most once per kind per ``log_every`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from edgewise.stream import Reading

from ._decode import PayloadError

__all__ = ["Gate", "Rejections", "StreamRule"]

_log = logging.getLogger("edgewise.agent.gate")
# Sequence numbers remembered per stream to spot a repeated one; a replayed message is recent.
_RECENT_SEQS = 256


@dataclass(frozen=True, slots=True)
class StreamRule:
    """The streams the agent takes: a name or an ``fnmatch`` pattern, and their values' units.

    ``units`` maps a value name to the unit it must be stated in (SenML unit names such as
    ``"Cel"``); a value stated in another unit is refused, a value stated without a unit or
    not named here is taken as it is.

    >>> rule = StreamRule("pump-*", {"temp": "Cel"})
    >>> rule.matches("pump-1"), rule.matches("fan-1")
    (True, False)
    """

    match: str
    units: Mapping[str, str] = field(default_factory=dict)

    def matches(self, stream: str) -> bool:
        """Whether ``stream`` is this rule's stream, or fits its pattern."""
        return stream == self.match or fnmatchcase(stream, self.match)


class Rejections:
    """Counts of turned-away input by kind, logged at most once per kind per ``every`` seconds.

    Each log line is a warning on ``logger`` whose ``extra`` holds ``kind``, ``reason``,
    ``stream`` and ``suppressed`` (how many of the kind went unlogged since the last line).
    Thread-safe: inputs count from their own threads.

    >>> clock = iter([0.0, 1.0, 61.0]).__next__
    >>> r = Rejections(logging.getLogger("demo"), every=60.0, clock=clock)
    >>> for _ in range(3):
    ...     r.add("malformed", "not JSON")
    >>> r.counts
    {'malformed': 3}
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.every = every
        self.clock = clock
        self.counts: dict[str, int] = {}
        self._logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, kind: str, reason: str, *, stream: str | None = None) -> None:
        """Count one rejection of ``kind``; log it unless the kind was logged recently."""
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            now = self.clock()
            last = self._logged.get(kind)
            if last is not None and now - last < self.every:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._logged[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        self.logger.warning(
            "rejected %s: %s%s",
            kind,
            reason,
            more,
            extra={"kind": kind, "reason": reason, "stream": stream, "suppressed": suppressed},
        )

    def add_error(self, error: PayloadError) -> None:
        """Count ``error`` by its kind."""
        self.add(error.kind, error.reason, stream=error.stream)


@dataclass(slots=True)
class _Last:
    timestamp: float
    seqs: deque[int] = field(default_factory=lambda: deque(maxlen=_RECENT_SEQS))


class Gate:
    """Admits decoded readings of configured streams, in their units, in time order.

    Parameters
    ----------
    rules
        The streams taken; the first rule that matches a stream applies to it.
    allow_unknown
        Take streams no rule matches (their units are not checked).
    tolerance
        How much older (seconds) than its stream's last admitted reading a reading may be.
    log_every, clock
        At most one log line per kind of rejection per ``log_every`` seconds of ``clock``.

    A reading is refused as ``unknown_stream`` (no rule matches), ``wrong_unit`` (a value
    stated in another unit than its rule's: the whole reading goes) or ``out_of_order``
    (its device time is more than ``tolerance`` before the stream's last admitted reading,
    or it repeats a recent sequence number without being newer). Not thread-safe: the agent
    calls it from one loop.

    Examples
    --------
    >>> gate = Gate([StreamRule("pump-*", {"temp": "Cel"})])
    >>> ok = Reading("pump-1", 100.0, {"temp": 21.5})
    >>> late = Reading("pump-1", 90.0, {"temp": 21.4})
    >>> fahrenheit = Reading("pump-1", 101.0, {"temp": 70.0})
    >>> unknown = Reading("fan-1", 100.0, {"rpm": 900.0})
    >>> admitted = gate.admit([ok, late, fahrenheit, unknown], [{}, {}, {"temp": "degF"}, {}])
    >>> [(r.stream, r.timestamp) for r in admitted]
    [('pump-1', 100.0)]
    >>> gate.counts
    {'out_of_order': 1, 'wrong_unit': 1, 'unknown_stream': 1}
    """

    def __init__(
        self,
        rules: Sequence[StreamRule],
        *,
        allow_unknown: bool = False,
        tolerance: float = 0.0,
        log_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0 seconds, got {tolerance}")
        self.rules = list(rules)
        self.allow_unknown = allow_unknown
        self.tolerance = tolerance
        self.rejections = Rejections(_log, every=log_every, clock=clock)
        self._rule_of: dict[str, StreamRule | None] = {}
        self._last: dict[str, _Last] = {}

    @property
    def counts(self) -> dict[str, int]:
        """Readings (and records) turned away so far, by kind."""
        return self.rejections.counts

    def reject(self, error: PayloadError) -> None:
        """Count and log what was turned away before the gate (a decoding error)."""
        self.rejections.add_error(error)

    def admit(
        self, readings: Sequence[Reading], units: Sequence[Mapping[str, str]] | None = None
    ) -> list[Reading]:
        """The readings to take, in order; ``units[i]`` are the units stated for ``readings[i]``.

        Without ``units`` (readings made by the input itself) units are not checked.
        """
        if units is not None and len(units) != len(readings):
            raise ValueError(f"{len(units)} unit maps for {len(readings)} readings")
        admitted = []
        for i, reading in enumerate(readings):
            error = self._check(reading, {} if units is None else units[i])
            if error is None:
                admitted.append(reading)
                self._remember(reading)
            else:
                self.reject(error)
        return admitted

    def _rule(self, stream: str) -> StreamRule | None:
        if stream not in self._rule_of:
            self._rule_of[stream] = next((r for r in self.rules if r.matches(stream)), None)
        return self._rule_of[stream]

    def _check(self, reading: Reading, units: Mapping[str, str]) -> PayloadError | None:
        stream = reading.stream
        rule = self._rule(stream)
        if rule is None and not self.allow_unknown:
            return PayloadError("unknown_stream", "no configured stream matches", stream=stream)
        if rule is not None:
            for name, unit in units.items():
                expected = rule.units.get(name)
                if expected is not None and unit != expected and name in reading.values:
                    return PayloadError(
                        "wrong_unit", f"{name!r} in {unit!r}, expected {expected!r}", stream=stream
                    )
        last = self._last.get(stream)
        if last is None:
            return None
        if reading.timestamp < last.timestamp - self.tolerance:
            return PayloadError(
                "out_of_order",
                f"device time {reading.timestamp} is {last.timestamp - reading.timestamp:g} s "
                f"before the last admitted reading",
                stream=stream,
            )
        # A repeated number with a newer time is a device that restarted its count.
        repeated = reading.seq is not None and reading.seq in last.seqs
        if repeated and reading.timestamp <= last.timestamp:
            return PayloadError(
                "out_of_order", f"sequence number {reading.seq} repeated", stream=stream
            )
        return None

    def _remember(self, reading: Reading) -> None:
        last = self._last.setdefault(reading.stream, _Last(reading.timestamp))
        last.timestamp = max(last.timestamp, reading.timestamp)
        if reading.seq is not None:
            last.seqs.append(reading.seq)
