"""Last-value imputation: a missing value repeats the last value seen under its name."""

from __future__ import annotations

import math

from edgewise.stream import Values, register

from ._base import Imputer

__all__ = ["LastValue"]


@register("last_value")
class LastValue(Imputer):
    """Fill a missing value with the last present value of the same name (forward fill).

    The baseline every other imputer is measured against. It has no delay and no parameters; a
    value missing before any value of its name was seen stays missing.

    Attributes
    ----------
    last_ : dict[str, float]
        Last present value of each name.
    imputed_count_ : int
        Values filled so far on the streaming path.

    Examples
    --------
    >>> imputer = LastValue()
    >>> imputer.learn_transform_one({"temp": 21.5})
    {'temp': 21.5}
    >>> imputer.learn_transform_one({"temp": float("nan")})
    {'temp': 21.5}
    >>> imputer.imputed_count_
    1
    """

    last_: dict[str, float]

    def __init__(self) -> None:
        pass

    def learn_one(self, x: Values) -> None:
        if not hasattr(self, "last_"):
            self.last_ = {}
        self.last_.update((k, v) for k, v in x.items() if not math.isnan(v))

    def transform_one(self, x: Values) -> Values:
        last = getattr(self, "last_", {})
        return {k: last.get(k, v) if math.isnan(v) else v for k, v in x.items()}
