"""Seasonal imputation: the last value, moved along a running seasonal profile."""

from __future__ import annotations

import math

from edgewise.stream import Values, register

from ._base import Imputer

__all__ = ["Seasonal"]


@register("seasonal")
class Seasonal(Imputer):
    """Fill a missing value with the last value plus the typical change since, from a profile.

    Each name keeps a running seasonal profile: for each phase of the season (the reading's index
    modulo ``period``; readings are assumed evenly spaced) an exponentially weighted mean of the
    values seen at that phase. A missing value at phase ``p`` is filled with the last present
    value, seen at phase ``q``, plus ``profile[p] - profile[q]``: the last value carried along the
    usual daily (weekly...) shape. With a ``halflife`` far below one season the profile is the
    value one season ago. Phases without a profile yet fall back to the last value.

    Parameters
    ----------
    period
        Readings per season (24 for a daily season of hourly readings).
    halflife
        Half-life of the profile's memory, in seasons.

    Attributes
    ----------
    profile_ : dict[str, list[float]]
        The running profile of each name, one mean per phase (``nan`` = not seen yet).
    imputed_count_ : int
        Values filled so far on the streaming path.

    Examples
    --------
    >>> imputer = Seasonal(period=3)
    >>> for value in [1.0, 5.0, 3.0, 1.0, 5.0, 3.0, 1.0]:
    ...     _ = imputer.learn_transform_one({"x": value})
    >>> imputer.learn_transform_one({"x": float("nan")})
    {'x': 5.0}
    """

    profile_: dict[str, list[float]]
    last_: dict[str, tuple[int, float]]
    count_: int

    def __init__(self, *, period: int = 24, halflife: float = 7.0) -> None:
        self.period = period
        self.halflife = halflife

    def learn_one(self, x: Values) -> None:
        if not hasattr(self, "count_"):
            if isinstance(self.period, bool) or not isinstance(self.period, int):
                raise ValueError(f"period must be an int, got {self.period!r}")
            if self.period < 1:
                raise ValueError(f"period must be >= 1, got {self.period}")
            if not self.halflife > 0:
                raise ValueError(f"halflife must be > 0, got {self.halflife}")
            self.profile_, self.last_, self.count_ = {}, {}, 0
        phase = self.count_ % self.period
        alpha = 1.0 - 0.5 ** (1.0 / self.halflife)
        for name, value in x.items():
            if math.isnan(value):
                continue
            profile = self.profile_.setdefault(name, [math.nan] * self.period)
            old = profile[phase]
            profile[phase] = value if math.isnan(old) else old + alpha * (value - old)
            self.last_[name] = (self.count_, value)
        self.count_ += 1

    def transform_one(self, x: Values) -> Values:
        if not hasattr(self, "count_"):
            return dict(x)
        phase = self.count_ % self.period
        y = dict(x)
        for name, value in x.items():
            if not math.isnan(value) or name not in self.last_:
                continue
            seen_at, last = self.last_[name]
            profile = self.profile_[name]
            shift = profile[phase] - profile[seen_at % self.period]
            y[name] = last if math.isnan(shift) else last + shift
        return y
