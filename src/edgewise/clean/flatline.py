"""Stuck sensors: a value that stops changing."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

from edgewise.stream import Values, register, state_type

from ._check import Faults, ValueCheck, validate_choice

__all__ = ["Flatline"]


@state_type
class _Run(NamedTuple):
    """The current run of one value: its lowest and highest value, and its length."""

    low: float
    high: float
    length: int


@register("flatline")
class Flatline(ValueCheck):
    """A run of at least ``min_run`` consecutive values within ``tolerance`` of each other is stuck.

    Default action: **flags** (the value is kept; ``flags[name] = "stuck"``). With
    ``action="mark_missing"`` stuck values become ``nan``.

    A run is a sequence of consecutive present values whose highest and lowest differ by at most
    ``tolerance`` (``0.0``: exactly equal). A value that does not fit the current run starts a new
    one. **Which readings are flagged**: the ``min_run``-th value of a run and every later value
    of it, until the run breaks. The first ``min_run - 1`` values of a run are not flagged: when
    they arrive, nothing tells them apart from a value that merely repeats once or twice, and the
    check does not look ahead. Missing values neither extend nor break a run.

    Parameters
    ----------
    min_run
        Values in a run from which it counts as stuck (at least 2). The default, 4, is the
        shortest run that is rare in real slowly-varying data quantised to 0.1 units: on the
        Intel Lab motes (30-minute readings of temperature and humidity) runs of 4 or more equal
        values cover 0.5% of the readings, runs of 3 or more 1.7%.
    tolerance
        Largest spread of values that still counts as not changing, in the value's units.
    action
        ``"flag"`` or ``"mark_missing"``.

    Attributes
    ----------
    runs_ : dict[str, tuple[float, float, int]]
        The current run of each value, a named tuple ``(low, high, length)``.

    Examples
    --------
    >>> check = Flatline(min_run=3)
    >>> [check.faults_one({"temp": v}) for v in [20.1, 20.4, 20.4, 20.4, 20.4, 20.6]]
    [{}, {}, {}, {'temp': 'stuck'}, {'temp': 'stuck'}, {}]
    >>> check.runs_["temp"].length
    1
    """

    fault = "stuck"

    runs_: dict[str, _Run]

    def __init__(self, *, min_run: int = 4, tolerance: float = 0.0, action: str = "flag") -> None:
        self.min_run = min_run
        self.tolerance = tolerance
        self.action = action

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"min_run": 2, "tolerance": 0.3, "action": "mark_missing"}

    def _runs(self) -> dict[str, _Run]:
        if not hasattr(self, "runs_"):
            validate_choice(self, "action", self.action, self.actions)
            if isinstance(self.min_run, bool) or not isinstance(self.min_run, int):
                raise ValueError(f"Flatline: min_run must be an integer, got {self.min_run!r}")
            if self.min_run < 2:
                raise ValueError(f"Flatline: min_run must be at least 2, got {self.min_run}")
            if not self.tolerance >= 0.0:
                raise ValueError(f"Flatline: tolerance must be >= 0, got {self.tolerance!r}")
            self.runs_ = {}
        return self.runs_

    def _extend(self, name: str, value: float) -> _Run | None:
        """The run ``value`` makes for ``name`` (``None`` for a missing value: nothing changes)."""
        if math.isnan(value):
            return None
        run = self._runs().get(name)
        if run is not None:
            low, high = min(run.low, value), max(run.high, value)
            if high - low <= self.tolerance:
                return _Run(low, high, run.length + 1)
        return _Run(value, value, 1)

    def _judge(self, x: Values) -> Faults:
        faults: Faults = {}
        for name, value in x.items():
            run = self._extend(name, value)
            if run is not None and run.length >= self.min_run:
                faults[name] = self.fault
        return faults

    def learn_one(self, x: Values) -> None:
        for name, value in x.items():
            run = self._extend(name, value)
            if run is not None:
                self.runs_[name] = run
