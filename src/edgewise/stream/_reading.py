"""The records that flow through edgewise: readings, and the detections made on them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ._state import state_type

__all__ = ["Detection", "Explanation", "Reading", "Values", "as_values", "number", "spreads"]

Values = dict[str, float]
"""Named values of one reading; a missing value is ``nan``."""


def as_values(raw: Mapping[str, float | int | None]) -> Values:
    """Copy ``raw`` into a :data:`Values` dict, turning ``None`` into ``nan``."""
    return {k: math.nan if v is None else float(v) for k, v in raw.items()}


def number(value: float) -> str:
    """``value`` in at most a dozen characters: 6 significant digits, exponent when huge or tiny.

    >>> number(21.456789), number(1e300), number(-0.000012345)
    ('21.4568', '1e+300', '-1.2345e-05')
    """
    return f"{value:.6g}"


@state_type
@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a reading looks anomalous: which input, how far from normal, and in what way.

    ``deviation`` is in units of the input's typical spread (a z-like number, signed). ``view``
    names what found the reading abnormal (``"range"``, ``"change"``, ``"level"``, ``"shape"``,
    ``"season"``, ``"relations"``...) and ``detail`` says it in an operator's words; without
    them the explanation states the deviation.

    >>> print(Explanation("temp", 95.0, 20.0, 12.5))
    temp=95 is 12.5 spreads above normal 20
    >>> print(Explanation("temp", 1e300, 20.0, 4e299))
    temp=1e+300 is 4e+299 spreads above normal 20
    >>> print(Explanation("temp", 95.0, 20.0, 12.5, "range", "temp=95 is outside its range"))
    temp=95 is outside its range
    """

    input: str
    value: float
    expected: float
    deviation: float
    view: str = ""
    detail: str = ""

    def __str__(self) -> str:
        if self.detail:
            return self.detail
        direction = "above" if self.deviation >= 0 else "below"
        return (
            f"{self.input}={number(self.value)} is {spreads(self.deviation)} spreads "
            f"{direction} normal {number(self.expected)}"
        )


def spreads(deviation: float) -> str:
    """``|deviation|`` with one decimal, or three significant digits from 10,000 on.

    >>> spreads(-4.25), spreads(4e299)
    ('4.2', '4e+299')
    """
    size = abs(deviation)
    return f"{size:.1f}" if size < 1e4 else f"{size:.3g}"


@state_type
class Detection(NamedTuple):
    """A detector's verdict on one reading, as a record of its own.

    The record the command line writes, the agent stores and forwards, and the hub keeps: it names
    the reading (``stream``, ``seq``, ``timestamp``), the verdict, and who made it (``detector``,
    its registered name, and ``model_version``, which identifies its configuration).

    Parameters
    ----------
    stream, seq, timestamp
        The reading judged: its stream, its sequence number in the stream (``None`` only for a
        reading that never passed a step's ``update``), its device time.
    score
        Anomaly score in [0, 1], high = anomalous.
    is_anomaly
        Whether this reading is abnormal.
    alarm
        Whether an episode of abnormal readings starts at this reading (the event to act on).
    explanation
        Why the reading looks abnormal (set when ``is_anomaly``).
    detector, model_version
        The registered name of the detector, and the version of its configuration.
    events
        What else happened to the detector's episodes here: ``"end:<input>"`` (the input's
        episode ended: enough normal readings in a row), ``"accept:<input>"`` (a lasting change
        of the input was accepted as its new normal), ``"relearn"`` (an operator's relearn).
    """

    stream: str
    seq: int | None
    timestamp: float
    score: float
    is_anomaly: bool
    alarm: bool
    explanation: Explanation | None
    detector: str
    model_version: str
    events: tuple[str, ...] = ()


@state_type
@dataclass(slots=True)
class Reading:
    """One reading of one stream.

    Parameters
    ----------
    stream
        Identifier of the source (a device, a machine, a sensor group).
    timestamp
        Device time: seconds since the Unix epoch, UTC.
    values
        Named values; ``nan`` (or ``None`` on input) marks a missing value.
    flags
        Data-quality flags by value name (``"spike"``, ``"stuck"``, ``"imputed"``...), set by steps.
    seq
        Sequence number within the stream. A reading that enters a step or pipeline without one
        gets its stream's next number (0, 1, 2, ... in arrival order); see
        :class:`~edgewise.stream.Step` for the rule of steps that create readings.
    received
        When the reading reached edgewise (epoch seconds), if known; ``timestamp`` is when it was
        measured.
    detections
        The detections made on this reading by the detectors it passed, in order.

    Examples
    --------
    >>> r = Reading("pump-1", 1_700_000_000.0, {"temp": 21.5, "rpm": None})
    >>> r.values
    {'temp': 21.5, 'rpm': nan}
    >>> r.seq is None
    True
    """

    stream: str
    timestamp: float
    values: Values
    flags: dict[str, str] = field(default_factory=dict)
    seq: int | None = field(default=None, kw_only=True)
    received: float | None = field(default=None, kw_only=True)
    detections: tuple[Detection, ...] = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        self.values = as_values(self.values)
        self.timestamp = float(self.timestamp)

    def with_values(self, values: Values) -> Reading:
        """A copy of this reading carrying ``values`` (flags, numbering and detections kept)."""
        return _copy(self, values, dict(self.flags), self.seq, self.detections)

    def numbered(self, seq: int) -> Reading:
        """A copy of this reading with sequence number ``seq``."""
        return _copy(self, self.values, dict(self.flags), seq, self.detections)

    def with_detection(self, detection: Detection) -> Reading:
        """A copy of this reading with ``detection`` added to its detections."""
        return _copy(self, self.values, dict(self.flags), self.seq, (*self.detections, detection))


def _copy(
    reading: Reading,
    values: Values,
    flags: dict[str, str],
    seq: int | None,
    detections: tuple[Detection, ...],
) -> Reading:
    # The hot path of every step: values are already clean, so skip the checks of __init__.
    copy = object.__new__(Reading)
    copy.stream = reading.stream
    copy.timestamp = reading.timestamp
    copy.values = values
    copy.flags = flags
    copy.seq = seq
    copy.received = reading.received
    copy.detections = detections
    return copy
