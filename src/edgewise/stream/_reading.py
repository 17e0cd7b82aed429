"""The unit of data that flows through edgewise: one timestamped reading of one stream."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Explanation", "Reading", "Values", "as_values"]

Values = dict[str, float]
"""Named values of one reading; a missing value is ``nan``."""


def as_values(raw: Mapping[str, float | int | None]) -> Values:
    """Copy ``raw`` into a :data:`Values` dict, turning ``None`` into ``nan``."""
    return {k: math.nan if v is None else float(v) for k, v in raw.items()}


def _spreads(deviation: float) -> str:
    """``|deviation|`` with one decimal, or three significant digits from a million on.

    Any finite value stays short: fixed-point, a deviation of 1e300 would print 301 digits.
    """
    size = abs(deviation)
    return f"{size:.1f}" if size < 1e6 else f"{size:.3g}"


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a reading looks anomalous: which input, and how far from normal.

    ``deviation`` is in units of the input's typical spread (a z-like number, signed).
    """

    input: str
    value: float
    expected: float
    deviation: float

    def __str__(self) -> str:
        direction = "above" if self.deviation >= 0 else "below"
        return (
            f"{self.input}={self.value:.6g} is {_spreads(self.deviation)} spreads {direction} "
            f"normal {self.expected:.6g}"
        )


@dataclass(slots=True)
class Reading:
    """One reading of one stream.

    Parameters
    ----------
    stream
        Identifier of the source (a device, a machine, a sensor group).
    timestamp
        Seconds since the Unix epoch, UTC.
    values
        Named values; ``nan`` (or ``None`` on input) marks a missing value.
    flags
        Data-quality flags by value name (``"spike"``, ``"stuck"``, ``"imputed"``...), set by steps.
    score, is_anomaly, explanation
        Set by a detector step.

    Examples
    --------
    >>> r = Reading("pump-1", 1_700_000_000.0, {"temp": 21.5, "rpm": None})
    >>> r.values
    {'temp': 21.5, 'rpm': nan}
    """

    stream: str
    timestamp: float
    values: Values
    flags: dict[str, str] = field(default_factory=dict)
    score: float | None = None
    is_anomaly: bool = False
    explanation: Explanation | None = None

    def __post_init__(self) -> None:
        self.values = as_values(self.values)
        self.timestamp = float(self.timestamp)

    def with_values(self, values: Values) -> Reading:
        """A copy of this reading carrying ``values`` (flags and detection are kept)."""
        return Reading(
            self.stream,
            self.timestamp,
            values,
            dict(self.flags),
            self.score,
            self.is_anomaly,
            self.explanation,
        )
