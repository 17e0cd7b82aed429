"""Regression imputation: a missing value from the correlated values present beside it."""

from __future__ import annotations

import math

import numpy as np

from edgewise.stream import Array, Values, register

from ._base import Imputer

__all__ = ["Regression"]


@register("regression")
class Regression(Imputer):
    """Fill missing values by linear regression on the values present in the same reading.

    The regressors of a missing value are every other value present in the reading and the last
    present value of every name (its own included), so a sensor is filled from correlated sensors
    and from how they moved since. All of them are modelled as one Gaussian vector whose mean and
    covariance are learned with exponential forgetting (``halflife`` readings); a missing value is
    its conditional mean given the values present, which is the least-squares regression on
    exactly the regressors present, whatever the pattern of missing values. The moments are
    learned by online expectation-maximisation: missing values enter them as their conditional
    mean plus conditional covariance, which keeps the covariance consistent. The normal equations
    are ridge-regularised by ``ridge`` times each regressor's variance.

    The names are those of the first reading; values under other names pass through. Until
    ``4 x (number of names)`` readings were learned (or if the equations are singular) a missing
    value gets the last present value.

    Parameters
    ----------
    halflife
        Half-life of the regression's memory, in readings.
    ridge
        Ridge penalty, relative to each regressor's variance.

    Attributes
    ----------
    names_ : list[str]
        The names imputed, from the first reading.
    mean_, cov_ : numpy.ndarray
        Mean and covariance of the values followed by their last present values.
    imputed_count_ : int
        Values filled so far on the streaming path.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> imputer = Regression()
    >>> for _ in range(300):
    ...     a = rng.gauss(0.0, 1.0)
    ...     _ = imputer.learn_transform_one({"a": a, "b": 2.0 * a + 1.0})
    >>> round(imputer.learn_transform_one({"a": 3.0, "b": float("nan")})["b"], 3)
    7.0
    """

    names_: list[str]
    last_: Array
    weight_: float
    mean_: Array
    cov_: Array

    def __init__(self, *, halflife: float = 1000.0, ridge: float = 1e-3) -> None:
        self.halflife = halflife
        self.ridge = ridge

    def learn_one(self, x: Values) -> None:
        self._learn_transform(x)

    def transform_one(self, x: Values) -> Values:
        if not hasattr(self, "names_"):
            return dict(x)
        return self._output(x, self._complete(self._augmented(x))[0])

    def _learn_transform(self, x: Values) -> Values:
        if not hasattr(self, "names_"):
            if not self.halflife > 0:
                raise ValueError(f"halflife must be > 0, got {self.halflife}")
            if not self.ridge >= 0:
                raise ValueError(f"ridge must be >= 0, got {self.ridge}")
            self.names_ = list(x)
            n = 2 * len(self.names_)
            self.last_ = np.full(len(self.names_), math.nan)
            self.weight_, self.mean_, self.cov_ = 0.0, np.zeros(n), np.zeros((n, n))
        z = self._augmented(x)
        d = len(self.names_)
        # A name seen for the first time was, as far as the moments know, a constant: make that
        # constant its first value, so its first readings do not look like a jump from zero.
        first = ~np.isnan(z[:d]) & np.isnan(self.last_)
        self.mean_[:d][first] = self.mean_[d:][first] = z[:d][first]
        completed, cond_cov = self._complete(z)
        y = self._output(x, completed)
        # Online EM: the E-step is the completion above, the M-step a forgetting update of the
        # moments, a missing value counting with its conditional covariance.
        self.weight_ = 0.5 ** (1.0 / self.halflife) * self.weight_ + 1.0
        a = 1.0 / self.weight_
        delta = completed - self.mean_
        self.mean_ += a * delta
        self.cov_ = (1.0 - a) * (self.cov_ + a * np.outer(delta, delta)) + a * cond_cov
        self.last_ = np.where(np.isnan(z[:d]), self.last_, z[:d])
        return y

    def _augmented(self, x: Values) -> Array:
        current = np.array([x.get(name, math.nan) for name in self.names_], dtype=np.float64)
        return np.concatenate([current, self.last_])

    def _output(self, x: Values, completed: Array) -> Values:
        y = dict(x)
        for i, name in enumerate(self.names_):
            if name in y and math.isnan(y[name]) and not math.isnan(self.last_[i]):
                y[name] = float(completed[i])
        return y

    def _complete(self, z: Array) -> tuple[Array, Array]:
        """``z`` with its missing entries at their conditional mean, and their covariance."""
        missing = np.isnan(z)
        cond_cov = np.zeros_like(self.cov_)
        if not missing.any():
            return z, cond_cov
        d = len(self.names_)
        fallback = np.concatenate([self.last_, self.mean_[d:]])
        completed = np.where(missing, np.where(np.isnan(fallback), self.mean_, fallback), z)
        if self.weight_ < 4 * d:
            return completed, cond_cov
        var = np.diag(self.cov_)
        # Regressors: present, and not constant (a zero variance is singular).
        predictors = np.flatnonzero(~missing & (var > 1e-12 * (var + self.mean_**2)))
        targets = np.flatnonzero(missing)
        a = self.cov_[np.ix_(predictors, predictors)]
        a[np.diag_indices_from(a)] *= 1.0 + self.ridge
        b = self.cov_[np.ix_(predictors, targets)]
        try:
            beta = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            return completed, cond_cov
        offset = z[predictors] - self.mean_[predictors]
        completed[targets] = self.mean_[targets] + offset @ beta
        cond_cov[np.ix_(targets, targets)] = self.cov_[np.ix_(targets, targets)] - b.T @ beta
        return completed, cond_cov
