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

    The profile's change is a noisy forecast of the value's change, so it is shrunk by the
    least-squares slope of the value's actual changes on the profile's changes, learned online
    over the same memory (from ``fit_``; 1 until learned): 1 for a clean season, towards 0 (the last
    value) where the profile says little about the next reading.

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
    fit_ : dict[str, list[float]]
        Forgetting sums of (actual change x profile change) and (profile change)^2 of each name;
        their ratio is the gain applied to the profile's change.
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
    fit_: dict[str, list[float]]
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
            self.profile_, self.fit_, self.last_, self.count_ = {}, {}, {}, 0
        phase = self.count_ % self.period
        alpha = 1.0 - 0.5 ** (1.0 / self.halflife)
        decay = 0.5 ** (1.0 / (self.halflife * self.period))
        for name, value in x.items():
            if math.isnan(value):
                continue
            profile = self.profile_.setdefault(name, [math.nan] * self.period)
            if name in self.last_:
                shift = self._shift(name, phase)
                if not math.isnan(shift):
                    fit = self.fit_.setdefault(name, [0.0, 0.0])
                    fit[0] = decay * fit[0] + (value - self.last_[name][1]) * shift
                    fit[1] = decay * fit[1] + shift * shift
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
            last = self.last_[name][1]
            shift = self._shift(name, phase)
            if math.isnan(shift):
                y[name] = last
                continue
            fit = self.fit_.get(name, [0.0, 0.0])
            y[name] = last + (fit[0] / fit[1] if fit[1] > 0 else 1.0) * shift
        return y

    def _shift(self, name: str, phase: int) -> float:
        """The profile's change from the phase of ``name``'s last value to ``phase``."""
        profile = self.profile_[name]
        return profile[phase] - profile[self.last_[name][0] % self.period]
