"""What every imputer shares: which values it filled in, flags on the reading, a running count."""

from __future__ import annotations

import math

from edgewise.stream import Reading, Transformer, Values

__all__ = ["Imputer", "filled", "flag_imputed"]


def filled(before: Values, after: Values) -> list[str]:
    """Names that were missing (or absent) in ``before`` and hold a value in ``after``."""
    return [
        name
        for name, value in after.items()
        if not math.isnan(value) and math.isnan(before.get(name, math.nan))
    ]


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
        out = reading.with_values(self.learn_transform_one(reading.values))
        flag_imputed(out, filled(reading.values, out.values))
        return [out]
