"""What every imputer shares: which values it filled in, flags on the reading, a running count."""

from __future__ import annotations

import math

from edgewise.stream import Reading, Transformer, Values

__all__ = ["Imputer", "complete", "filled", "flag_imputed"]


def complete(x: Values) -> bool:
    """Whether no value of ``x`` is missing.

    A sum is nan when any of its terms is: one pass in C spares the usual reading a Python loop.
    (It is nan too where infinities of both signs meet: such a reading takes the long way.)
    """
    total = sum(x.values())
    return total == total


def filled(before: Values, after: Values) -> list[str]:
    """Names that were missing (or absent) in ``before`` and hold a value in ``after``."""
    # ``v != v`` holds for nan only, and costs less than math.isnan: this runs on every value.
    nan = math.nan
    names = (
        []
        if complete(before)
        else [n for n, v in before.items() if v != v and (a := after.get(n, nan)) == a]
    )
    if len(after) > len(before):
        names += [n for n, a in after.items() if n not in before and a == a]
    return names


def flag_imputed(reading: Reading, names: list[str]) -> None:
    """Mark ``names`` of ``reading`` as imputed."""
    for name in names:
        reading.flags[name] = "imputed"


class Imputer(Transformer):
    """A one-in, one-out imputer: it fills missing values from what it learned before them.

    The streaming paths (``learn_transform_one``, ``learn_transform_many``, ``update``) count the
    values they fill in ``imputed_count_``; ``update`` also flags them ``"imputed"`` on the reading.
    Values the imputer has no basis for yet (nothing seen before) stay missing.
    """

    delay = 0
    """Readings the imputer holds back before it emits one: none, it only looks at the past."""

    imputed_count_: int

    def learn_transform_one(self, x: Values) -> Values:
        y = self._learn_transform(x)
        self.imputed_count_ = getattr(self, "imputed_count_", 0) + len(filled(x, y))
        return y

    def _learn_transform(self, x: Values) -> Values:
        y = self.transform_one(x)
        self.learn_one(x)
        return y

    def _update(self, reading: Reading) -> list[Reading]:
        values = self._learn_transform(reading.values)
        names = filled(reading.values, values)
        self.imputed_count_ = getattr(self, "imputed_count_", 0) + len(names)
        out = reading.with_values(values)
        flag_imputed(out, names)
        return [out]
