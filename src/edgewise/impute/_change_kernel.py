"""Numba kernel of :class:`~edgewise.impute.ChangeRegression`: one reading, one call.

Plain loops rather than LAPACK: the matrices are small (three rows per value), and threaded
BLAS on a few dozen rows costs more in start-up and contention than the arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from edgewise._jit import njit

__all__ = ["GAINS", "step"]

GAINS = np.linspace(0.0, 1.0, 11)
"""The gains a predicted change may be shrunk by, towards the last value (gain 0)."""

# Relative variance below which a value counts as constant (and cannot be a regressor).
_CONSTANT = 1e-12
# Standard deviations beyond which a reading's changes (their root mean square) count with a
# weight falling as the square, which bounds what one reading can do to the covariances, and
# beyond which no fill is moved from a value's mean change.
_OUTLIER = 10.0


@njit(cache=True, nogil=True)
def _inverse_cholesky(a: NDArray[np.float64]) -> tuple[NDArray[np.float64], bool]:
    """``L^-1`` of the Cholesky factor ``L`` of ``a`` (so ``a^-1 = L^-T L^-1``), and success."""
    n = a.shape[0]
    low = np.zeros((n, n))
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= low[j, k] * low[j, k]
        if not s > 0.0:
            return low, False
        low[j, j] = math.sqrt(s)
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            low[i, j] = s / low[j, j]
    inv = np.zeros((n, n))
    for j in range(n):
        inv[j, j] = 1.0 / low[j, j]
        for i in range(j + 1, n):
            s = 0.0
            for k in range(j, i):
                s -= low[i, k] * inv[k, j]
            inv[i, j] = s / low[i, i]
    return inv, True


@njit(cache=True, nogil=True)
def _lower_times(low: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``low @ b`` for a lower-triangular ``low`` and a matrix ``b``."""
    n, m = b.shape
    out = np.zeros((n, m))
    for i in range(n):
        for k in range(i + 1):
            lik = low[i, k]
            for c in range(m):
                out[i, c] += lik * b[k, c]
    return out


@njit(cache=True, nogil=True)
def step(
    current: NDArray[np.float64],
    state: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    mean: NDArray[np.float64],
    cov: NDArray[np.float64],
    gate: NDArray[np.float64],
    weight: float,
    params: NDArray[np.float64],
) -> float:
    """Fill the missing values of one reading in place, then learn from it; returns the weight.

    ``current`` holds the reading's ``d`` values (``nan`` = missing). ``state`` = (last values,
    previous changes, readings since each value was last present), ``mean``, ``cov`` (of the
    vector of changes, previous changes and last values) and ``gate`` (per value, the forgetting
    sums of the absolute errors of each gain) are updated in place. ``params`` = (decay per
    reading, ridge, huber).
    """
    last, previous, absent = state
    d = current.shape[0]
    z = np.concatenate((current - last, previous, last))
    decay, ridge, huber = params[0], params[1], params[2]
    n = z.shape[0]
    missing = np.isnan(z)
    completed = np.where(missing, mean, z)
    cond_cov = np.zeros((n, n))
    loo = np.full(d, np.nan)
    if weight >= n:
        usable = np.zeros(n, dtype=np.bool_)
        for i in range(n):
            var = cov[i, i]
            usable[i] = not missing[i] and var > _CONSTANT * (var + mean[i] * mean[i])
        p = np.flatnonzero(usable)
        m = np.flatnonzero(missing)
        a = np.empty((p.size, p.size))
        for r in range(p.size):
            for c in range(p.size):
                a[r, c] = cov[p[r], p[c]]
            a[r, r] *= 1.0 + ridge
        inv, ok = _inverse_cholesky(a)
        if ok and p.size > 0:
            offset = np.empty((p.size, 1))
            for r in range(p.size):
                offset[r, 0] = z[p[r]] - mean[p[r]]
            # Leave-one-out predictions of the present changes, for the gate: with the precision
            # matrix P = a^-1, E[z_i | the rest] = z_i - (P offset)_i / P_ii.
            u = _lower_times(inv, offset)
            for r in range(p.size):
                if p[r] >= d:
                    continue
                precision_offset = 0.0
                precision_ii = 0.0
                for k in range(r, p.size):
                    precision_offset += inv[k, r] * u[k, 0]
                    precision_ii += inv[k, r] * inv[k, r]
                loo[p[r]] = z[p[r]] - precision_offset / precision_ii
            if m.size > 0:
                b = np.empty((p.size, m.size))
                for r in range(p.size):
                    for c in range(m.size):
                        b[r, c] = cov[p[r], m[c]]
                v = _lower_times(inv, b)  # L^-1 b: the conditional mean is mean + (L^-1 b)' u
                for c in range(m.size):
                    s = 0.0
                    for k in range(p.size):
                        s += v[k, c] * u[k, 0]
                    # An input far outside what it was learned on (a first rain after months of
                    # zeros) can make the regression extrapolate wildly: no value is moved further
                    # from its mean than _OUTLIER of its standard deviations.
                    bound = _OUTLIER * math.sqrt(max(cov[m[c], m[c]], 0.0))
                    completed[m[c]] = mean[m[c]] + min(max(s, -bound), bound)
                    for c2 in range(c + 1):
                        s = cov[m[c], m[c2]]
                        for k in range(p.size):
                            s -= v[k, c] * v[k, c2]
                        cond_cov[m[c], m[c2]] = cond_cov[m[c2], m[c]] = s
    # The weight of a reading in the moments and in the gains' errors: 1 while the root mean
    # square of its changes (now and before), in standard deviations, is under ``huber``, then
    # falling as its inverse, so a volatile hour counts less than a calm one; beyond ``_OUTLIER``
    # as its inverse square, so one burst cannot set the covariances for the next half-life.
    w = 1.0
    if weight >= n:
        total, count = 0.0, 0
        for i in range(2 * d):
            if not missing[i] and cov[i, i] > 0.0:
                total += (z[i] - mean[i]) ** 2 / cov[i, i]
                count += 1
        rms = math.sqrt(total / count) if count > 0 else 0.0
        w = min(1.0, huber / rms) * min(1.0, _OUTLIER / rms) if rms > 0.0 else 1.0
    for i in range(d):
        if not np.isnan(loo[i]):
            for g in range(GAINS.size):
                gate[i, g] = decay * gate[i, g] + w * abs(z[i] - GAINS[g] * loo[i])
    weight = decay * weight + w
    rate = w / weight
    delta = completed - mean
    for i in range(n):
        mean[i] += rate * delta[i]
        for j in range(n):
            cov[i, j] = (1.0 - rate) * (cov[i, j] + rate * delta[i] * delta[j])
            cov[i, j] += rate * cond_cov[i, j]
    for i in range(d):
        if np.isnan(current[i]):
            absent[i] += 1.0
            if np.isnan(last[i]):
                continue
            best = 0
            for g in range(1, GAINS.size):
                if gate[i, g] < gate[i, best]:
                    best = g
            current[i] = last[i] + GAINS[best] * completed[i]
        else:
            absent[i] = 0.0
        if not np.isnan(last[i]):
            previous[i] = current[i] - last[i]
        last[i] = current[i]
    return weight
