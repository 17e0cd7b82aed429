"""What the value checks share: judge each value, then flag it, mark it missing or clip it.

A check finds *faults*, ``{name: fault}`` for one reading (``{"temp": "spike"}``), and its
``action`` decides what happens to a faulty value: ``"flag"`` keeps it, ``"mark_missing"``
replaces it with ``nan``, ``"clip"`` (where a check supports it) moves it to the nearest allowed
value. Every action records the fault in ``reading.flags[name]``.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from edgewise.stream import Array, Reading, Transformer, Values, as_batch, column_names

__all__ = ["Faults", "ValueCheck", "fault_mask", "mark_missing", "validate_choice"]

Faults = dict[str, str]
"""The faults found in one reading, by value name."""


def validate_choice(owner: object, what: str, value: str, allowed: Sequence[str]) -> None:
    """Raise a clear ``ValueError`` when the parameter ``what`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(
            f"{type(owner).__name__}: {what} must be one of {', '.join(allowed)}; got {value!r}"
        )


def mark_missing(values: Values, faults: Faults) -> Values:
    """A copy of ``values`` with the faulty ones replaced by ``nan``."""
    return {name: math.nan if name in faults else value for name, value in values.items()}


def fault_mask(found: Sequence[Faults], names: Sequence[str]) -> NDArray[np.bool_]:
    """Rows of faults as a boolean mask, one row per reading and one column per name."""
    mask = np.zeros((len(found), len(names)), dtype=np.bool_)
    for i, faults in enumerate(found):
        for j, name in enumerate(names):
            mask[i, j] = name in faults
    return mask


class ValueCheck(Transformer):
    """Base of the checks that judge each value when it arrives, against what came before.

    Subclasses set :attr:`fault` and implement :meth:`_judge` (the faults of one reading, given
    the state so far) and, when stateful, :meth:`learn_one`. The streaming paths judge a reading,
    act on it, then learn from its raw values, so a check's memory is not shaped by its own repairs.
    """

    fault: ClassVar[str]
    """The name a fault of this check gets in ``reading.flags``."""

    actions: ClassVar[tuple[str, ...]] = ("flag", "mark_missing")
    """The actions this check supports."""

    action: str

    @abstractmethod
    def _judge(self, x: Values) -> Faults:
        """The faults of ``x`` against the state so far, without changing it."""

    def _repair(self, x: Values, faults: Faults) -> Values:
        """``x`` after the action on its faulty values."""
        return mark_missing(x, faults) if self.action == "mark_missing" else dict(x)

    def transform_one(self, x: Values) -> Values:
        return self._repair(x, self._judge(x))

    def faults_one(self, x: Values) -> Faults:
        """Judge one reading's values, then learn from them (the streaming path)."""
        faults = self._judge(x)
        self.learn_one(x)
        return faults

    def faults_many(self, X: Array, columns: Sequence[str] | None = None) -> NDArray[np.bool_]:
        """The streaming path on a batch: ``mask[i, j]`` is whether row i's value j is faulty."""
        batch = as_batch(X)
        names = column_names(batch.shape[1], columns)
        found = [self.faults_one(dict(zip(names, row, strict=True))) for row in batch.tolist()]
        return fault_mask(found, names)

    def _update(self, reading: Reading) -> list[Reading]:
        faults = self._judge(reading.values)
        self.learn_one(reading.values)
        if not faults:
            return [reading]  # readings are not changed in place: pass it on as it is
        out = reading.with_values(self._repair(reading.values, faults))
        out.flags.update(faults)
        return [out]
