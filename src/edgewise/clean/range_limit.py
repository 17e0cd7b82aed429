"""Physical limits: a value outside what the sensor can measure is not a measurement."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from edgewise.stream import Values, register

from ._check import Faults, ValueCheck, validate_choice

__all__ = ["RangeLimit"]

Limit = float | Mapping[str, float]


def _limit(limit: Limit, name: str, unbounded: float) -> float:
    if isinstance(limit, Mapping):
        return float(limit.get(name, unbounded))
    return float(limit)


def _validate_limit(owner: object, what: str, limit: Limit) -> None:
    given = limit.values() if isinstance(limit, Mapping) else [limit]
    for value in given:
        if not isinstance(value, int | float) or math.isnan(value):
            raise ValueError(f"{type(owner).__name__}: {what} must be numbers, got {value!r}")


@register("range_limit")
class RangeLimit(ValueCheck):
    """Values below ``low`` or above ``high`` are out of range.

    Default action: **marks missing** (the value becomes ``nan``), flagged ``"out_of_range"``.
    With ``action="clip"`` the value is moved to the limit it crossed; with ``action="flag"`` it
    is kept. Missing values are never out of range. The check is stateless.

    Parameters
    ----------
    low, high
        The limits, one for every value, or a mapping from value name to limit (names the mapping
        does not hold are unbounded on that side).
    action
        ``"mark_missing"``, ``"clip"`` or ``"flag"``.

    Attributes
    ----------
    bounds_ : dict[str, tuple[float, float]]
        The limits resolved for each value name seen.

    Examples
    --------
    >>> check = RangeLimit(low={"rh": 0.0}, high={"rh": 100.0, "temp": 60.0})
    >>> check.transform_one({"rh": 104.2, "temp": 21.5})
    {'rh': nan, 'temp': 21.5}
    >>> RangeLimit(low=0.0, high=100.0, action="clip").transform_one({"rh": 104.2})
    {'rh': 100.0}
    """

    fault = "out_of_range"
    actions = ("flag", "mark_missing", "clip")

    bounds_: dict[str, tuple[float, float]]

    def __init__(
        self, *, low: Limit = -math.inf, high: Limit = math.inf, action: str = "mark_missing"
    ) -> None:
        self.low = low
        self.high = high
        self.action = action

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"low": -1.0, "high": 1.0}
        yield {"low": {"x0": -0.5}, "high": {"x1": 6.0, "x2": 0.5}, "action": "clip"}
        yield {"low": 4.0, "action": "flag"}

    def _bounds(self, name: str) -> tuple[float, float]:
        if not hasattr(self, "bounds_"):
            validate_choice(self, "action", self.action, self.actions)
            _validate_limit(self, "low", self.low)
            _validate_limit(self, "high", self.high)
            self.bounds_ = {}
        bounds = self.bounds_.get(name)
        if bounds is None:
            bounds = (_limit(self.low, name, -math.inf), _limit(self.high, name, math.inf))
            if bounds[0] > bounds[1]:
                raise ValueError(f"RangeLimit: low {bounds[0]} > high {bounds[1]} for {name!r}")
            self.bounds_[name] = bounds
        return bounds

    def _judge(self, x: Values) -> Faults:
        faults: Faults = {}
        for name, value in x.items():
            low, high = self._bounds(name)
            if value < low or value > high:  # False for nan
                faults[name] = self.fault
        return faults

    def _repair(self, x: Values, faults: Faults) -> Values:
        if self.action != "clip":
            return super()._repair(x, faults)
        clipped = dict(x)
        for name in faults:
            low, high = self.bounds_[name]
            clipped[name] = min(max(x[name], low), high)
        return clipped
