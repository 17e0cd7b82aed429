"""Change regression: the last value, moved by the change that the other values' changes predict."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from edgewise.stream import Array, Values, register

from . import _change_kernel as kernel
from ._base import Imputer

__all__ = ["ChangeRegression"]

# A value missing for this many half-lives is forgotten: the moments hold almost nothing of it.
_FORGET_HALFLIVES = 10.0


@register("change_regression")
class ChangeRegression(Imputer):
    """Fill a missing value with its last value plus the change the other values predict.

    **Delay**: none; it learns from the past only. The model looks, at each reading, at three
    things per value: its change since the previous reading, its previous change, and its
    previous value. Together they form one Gaussian vector whose mean and covariance are learned
    with exponential forgetting (``halflife`` readings) by online expectation-maximisation, as in
    :class:`~edgewise.impute.Regression`. A missing value's change is its conditional mean given
    everything present: the least-squares regression on the changes of the values present in the
    same reading (co-measured quantities, the same quantity at other sites), on the previous
    changes (momentum) and on the previous values (a pull back to the usual level). Predicting
    the change rather than the value keeps the last value as the anchor: the regression only has
    to say how far the value moved.

    The predicted change is then shrunk towards no change, the last value, by a gain chosen per
    value among 0, 0.1, ..., 1: the one whose leave-one-out predictions of that value's own
    present changes had the smallest absolute error, over the same memory. A value the others
    say nothing about (rain, mostly zero and spiky) keeps a gain near 0 and is filled as
    :class:`~edgewise.impute.LastValue` would. Through a gap the filled value becomes the last
    value, so each reading adds the change the others show and the fill follows them for as long
    as the gap lasts.

    Calm readings count more than volatile ones: a reading whose changes (now and previous) have
    a root mean square of ``r > huber`` standard deviations is learned, in the moments and in the
    gains' errors, with weight ``huber / r``, and beyond ``r = 10`` with ``10 huber / r^2``, so
    that one absurd reading cannot set the regression for the next half-life. And no predicted
    change lies further than 10 standard deviations from the value's mean change: an input far
    outside what it was learned on (a first rain after weeks of zeros) cannot throw a fill.

    Values may appear at any reading (a new value starts uncorrelated with a gain of 0) and
    disappear: a value missing for ``10 x halflife`` readings is forgotten, so the state stays
    bounded (``9 d^2`` floats for ``d`` values). Until the model has learned about as many
    readings as it has dimensions (``3 d``), and while a value's gain is 0, a missing value gets
    its last value; a value missing before its first present value stays missing.

    Parameters
    ----------
    halflife
        Half-life of the moments' and the gains' memory, in readings.
    ridge
        Ridge penalty, relative to each regressor's variance.
    huber
        Root mean square of a reading's changes, in standard deviations, above which it counts
        less.

    Attributes
    ----------
    names_ : list[str]
        The values modelled, in order of appearance.
    mean_, cov_ : numpy.ndarray
        Mean and covariance of the changes, the previous changes and the previous values.
    gains_ : numpy.ndarray
        The gain currently applied to each value's predicted change.
    imputed_count_ : int
        Values filled so far on the streaming path.

    Examples
    --------
    Two sensors on one drifting quantity; ``b`` goes missing while ``a`` climbs by 1 a reading:

    >>> import random
    >>> rng = random.Random(0)
    >>> imputer, a = ChangeRegression(), 0.0
    >>> for _ in range(500):
    ...     a += rng.gauss(0.0, 1.0)
    ...     b = 2.0 * a + rng.gauss(0.0, 0.1)
    ...     _ = imputer.learn_transform_one({"a": a, "b": b})
    >>> for _ in range(3):  # how far the filled b moves from its last value (last value: 0)
    ...     a += 1.0
    ...     print(round(imputer.learn_transform_one({"a": a, "b": float("nan")})["b"] - b, 1))
    2.0
    4.0
    5.9
    """

    names_: list[str]
    last_: Array
    step_: Array
    absent_: Array
    weight_: float
    mean_: Array
    cov_: Array
    gate_: Array

    def __init__(self, *, halflife: float = 250.0, ridge: float = 1e-2, huber: float = 1.0) -> None:
        self.halflife = halflife
        self.ridge = ridge
        self.huber = huber

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"halflife": 20.0, "ridge": 0.0, "huber": 0.5}  # a short memory, no ridge

    @property
    def gains_(self) -> Array:
        return (
            kernel.GAINS[np.argmin(self.gate_, axis=1)] if hasattr(self, "gate_") else np.zeros(0)
        )

    def learn_one(self, x: Values) -> None:
        self._learn_transform(x)

    def transform_one(self, x: Values) -> Values:
        # Predicting learns the moments as a side effect: predict on a copy.
        if not hasattr(self, "names_"):
            return dict(x)
        return copy.deepcopy(self)._learn_transform(x)

    def _learn_transform(self, x: Values) -> Values:
        if not hasattr(self, "names_"):
            for name in ("halflife", "huber"):
                if not getattr(self, name) > 0:
                    raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
            if not self.ridge >= 0:
                raise ValueError(f"ridge must be >= 0, got {self.ridge}")
            self.names_, self.weight_ = [], 0.0
            self.last_, self.step_, self.absent_ = np.zeros(0), np.zeros(0), np.zeros(0)
            self.mean_, self.cov_ = np.zeros(0), np.zeros((0, 0))
            self.gate_ = np.zeros((0, kernel.GAINS.size))
        self._forget()
        self._grow(x)
        current = np.array([x.get(k, math.nan) for k in self.names_], dtype=np.float64)
        params = np.array([0.5 ** (1.0 / self.halflife), self.ridge, self.huber])
        state = (self.last_, self.step_, self.absent_)
        self.weight_ = kernel.step(
            current, state, self.mean_, self.cov_, self.gate_, self.weight_, params
        )
        y = dict(x)
        for name, value in zip(self.names_, current.tolist(), strict=True):
            if name in y and math.isnan(y[name]):
                y[name] = value
        return y

    def _grow(self, x: Values) -> None:
        """Add the values present for the first time, uncorrelated, at their first value."""
        new = [k for k, v in x.items() if not math.isnan(v) and k not in self.names_]
        if not new:
            return
        d, e = len(self.names_), len(self.names_) + len(new)
        old = np.concatenate([np.arange(d) + block * e for block in range(3)])
        mean, cov = np.zeros(3 * e), np.zeros((3 * e, 3 * e))
        mean[old], cov[np.ix_(old, old)] = self.mean_, self.cov_
        # The last values' mean starts at the first value, so it does not look like a jump from 0.
        mean[2 * e + d :] = [x[k] for k in new]
        self.names_ = self.names_ + new
        self.mean_, self.cov_ = mean, cov
        self.last_ = np.concatenate([self.last_, np.full(len(new), math.nan)])
        self.step_ = np.concatenate([self.step_, np.zeros(len(new))])
        self.absent_ = np.concatenate([self.absent_, np.zeros(len(new))])
        self.gate_ = np.vstack([self.gate_, np.zeros((len(new), kernel.GAINS.size))])

    def _forget(self) -> None:
        """Drop the values missing for ``10 x halflife`` readings."""
        keep = self.absent_ < _FORGET_HALFLIVES * self.halflife
        if keep.all():
            return
        d = len(self.names_)
        rows = np.concatenate([np.flatnonzero(keep) + block * d for block in range(3)])
        self.names_ = [name for name, k in zip(self.names_, keep, strict=True) if k]
        self.mean_, self.cov_ = self.mean_[rows], self.cov_[np.ix_(rows, rows)]
        self.last_, self.step_ = self.last_[keep], self.step_[keep]
        self.absent_, self.gate_ = self.absent_[keep], self.gate_[keep]
