"""Rolling statistics of each value over the last readings."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from edgewise.stream import Array, Transformer, Values, register

__all__ = ["RollingStats"]

_STATS: dict[str, Callable[[Array], float]] = {
    "mean": lambda v: float(np.mean(v)),
    "std": lambda v: float(np.std(v)),
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
    "median": lambda v: float(np.median(v)),
}


@register("rolling_stats")
class RollingStats(Transformer):
    """Statistics of each value over a window of the last ``window`` readings, this one included.

    For each value ``name`` the reading gains ``name_mean``, ``name_std`` (population standard
    deviation, ``ddof=0``, as :func:`numpy.std`), ``name_min``, ``name_max`` or ``name_median``,
    as chosen by ``stats``. Missing values in the window are skipped; a window with no value
    present gives missing statistics. The window is shorter while the stream is.

    Parameters
    ----------
    window
        Readings in the window.
    stats
        The statistics to compute, among ``"mean"``, ``"std"``, ``"min"``, ``"max"``,
        ``"median"``.
    keep_inputs
        Whether the values themselves stay in the reading beside their statistics.

    Examples
    --------
    >>> rolling = RollingStats(window=3, stats=("mean", "max"))
    >>> for value in [1.0, 2.0, 6.0, 4.0]:
    ...     out = rolling.learn_transform_one({"x": value})
    >>> out
    {'x': 4.0, 'x_mean': 4.0, 'x_max': 6.0}
    """

    windows_: dict[str, deque[float]]

    def __init__(
        self,
        *,
        window: int = 10,
        stats: Sequence[str] = ("mean", "std", "min", "max"),
        keep_inputs: bool = True,
    ) -> None:
        self.window = window
        self.stats = stats
        self.keep_inputs = keep_inputs

    def learn_one(self, x: Values) -> None:
        if not hasattr(self, "windows_"):
            if isinstance(self.window, bool) or not isinstance(self.window, int):
                raise ValueError(f"window must be an int, got {self.window!r}")
            if self.window < 1:
                raise ValueError(f"window must be >= 1, got {self.window}")
            unknown = [s for s in self.stats if s not in _STATS]
            if isinstance(self.stats, str) or unknown or not self.stats:
                raise ValueError(f"stats must be a non-empty sequence of {list(_STATS)}")
            self.windows_ = {}
        for name, value in x.items():
            self.windows_.setdefault(name, deque(maxlen=self.window)).append(value)

    def transform_one(self, x: Values) -> Values:
        windows = getattr(self, "windows_", {})
        y = dict(x) if self.keep_inputs else {}
        for name, value in x.items():
            past = list(windows.get(name, ()))
            values = np.array([*past[max(len(past) - self.window + 1, 0) :], value])
            values = values[~np.isnan(values)]
            for stat in self.stats:
                y[f"{name}_{stat}"] = _STATS[stat](values) if values.size else math.nan
        return y
