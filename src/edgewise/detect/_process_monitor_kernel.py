"""Numba kernel of :class:`~edgewise.detect.ProcessMonitor`: one reading through its three views.

The model arrives as arrays (the monitored inputs, their centre and scale, the precision of the
lagged vector, the precision of the current inputs, the run limits, the parameter vector); the
stream state as arrays that :func:`advance` updates in place when asked to (the lags, the smoothed
level, the smoothed deviations, the last values and their runs, the adaptive shift). The smoothed
distance and the reading count are scalars: :func:`advance` returns the new distance and the
caller keeps both. :func:`statistics` streams rows through the same :func:`advance`, so that the
limits are calibrated on exactly the statistics a stream computes.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from edgewise._jit import njit

__all__ = [
    "N_PARAMS",
    "P_ADAPT",
    "P_DISTANCE_LIMIT",
    "P_INVERSE_N",
    "P_LEVEL_LIMIT",
    "P_LEVEL_SMOOTHING",
    "P_SMOOTHING",
    "P_TOLERANCE2",
    "advance",
    "fresh_stream",
    "statistics",
]

# Parameters.
P_SMOOTHING, P_LEVEL_SMOOTHING = 0, 1  # EWMA weights of the distance and of the level
P_DISTANCE_LIMIT, P_LEVEL_LIMIT = 2, 3  # limits of the smoothed distance and of the level
P_TOLERANCE2, P_INVERSE_N, P_ADAPT = 4, 5, 6  # squared tolerance; 1 / reference rows; adapt rate
N_PARAMS = 7
# A reading's deviation counts at most this many reference spreads: one glitch (a sensor's error
# code, 65535) is as abnormal as any, but cannot hold the smoothed views up for long.
CLIP = 20.0


@njit(cache=True, nogil=True)
def _complete(
    v: NDArray[np.float64], missing: NDArray[np.bool_], precision: NDArray[np.float64]
) -> None:
    """Replace the missing entries of ``v`` by their conditional expectation given the others.

    Under the zero-mean Gaussian model with precision ``P`` that is ``v_m = -P_mm^-1 P_mo v_o``;
    ``v' P v`` then equals the Mahalanobis distance of the observed entries alone.
    """
    m = np.flatnonzero(missing)
    o = np.flatnonzero(~missing)
    k = m.shape[0]
    a = np.empty((k, k))
    b = np.zeros(k)
    for r in range(k):
        row = m[r]
        for c in range(k):
            a[r, c] = precision[row, m[c]]
        for c in range(o.shape[0]):
            b[r] -= precision[row, o[c]] * v[o[c]]
    solved = np.linalg.solve(a, b)
    for r in range(k):
        v[m[r]] = solved[r]


@njit(cache=True, nogil=True)
def advance(
    x: NDArray[np.float64],
    inputs: NDArray[np.int64],
    center: NDArray[np.float64],
    scale: NDArray[np.float64],
    precision: NDArray[np.float64],
    level_precision: NDArray[np.float64],
    run_limits: NDArray[np.float64],
    params: NDArray[np.float64],
    lags: NDArray[np.float64],
    level: NDArray[np.float64],
    deviations: NDArray[np.float64],
    last: NDArray[np.float64],
    runs: NDArray[np.float64],
    shift: NDArray[np.float64],
    distance: float,
    count: int,
    update: bool,
    contributions: NDArray[np.float64],
) -> tuple[float, float, float, float]:
    """Score one reading; with ``update``, also move the stream state on.

    Returns the ratio of the most abnormal view to its limit (1 = at the limit), the new smoothed
    distance, and, for calibration, the reading's own distance and the level statistic in units
    of its variance under the reference model. ``contributions`` (one entry per column of ``x``)
    receives each input's part of the ratio.
    """
    d = inputs.shape[0]
    n_lags = lags.shape[0]
    p = d * (n_lags + 1)
    # The lagged vector, centred on the current level: missing entries (gaps, and lags older than
    # the stream) are imputed there, so that a process sitting at a shifted level is imputed at it.
    v = np.empty(p)
    missing = np.zeros(p, dtype=np.bool_)
    for i in range(d):
        value = x[inputs[i]]
        if math.isfinite(value):
            deviation = (value - center[i]) / scale[i]
            v[i] = max(-CLIP, min(CLIP, deviation)) - shift[i] - level[i]
        else:
            missing[i] = True
            v[i] = 0.0
    for k in range(n_lags):
        for i in range(d):
            j = d * (k + 1) + i
            if k < count:
                v[j] = lags[k, i] - shift[i] - level[i]
            else:
                missing[j] = True
                v[j] = 0.0
    n_missing = np.count_nonzero(missing)
    if n_missing > 0:
        _complete(v, missing, precision)
    z = v[:d] + level

    level_smoothing = params[P_LEVEL_SMOOTHING]
    new_level = (1.0 - level_smoothing) * level + level_smoothing * z
    q = level_precision @ new_level
    level_stat = float(new_level @ q)
    # Variance of the smoothed level relative to one reading's, plus the reference mean's error.
    decay = (1.0 - level_smoothing) ** (2 * (count + 1))
    variance = level_smoothing / (2.0 - level_smoothing) * (1.0 - decay) + params[P_INVERSE_N]
    ratio_level = level_stat / max(params[P_LEVEL_LIMIT] * variance, params[P_TOLERANCE2])

    # The distance from the new level watches the structure (spread, correlation, dynamics); a
    # sustained shift is left to the level view and its tolerance.
    for k in range(n_lags + 1):
        for i in range(d):
            v[d * k + i] += level[i] - new_level[i]
    g = precision @ v
    # Each missing entry adds its expected share, 1, so that a gap does not look calmer than data.
    d2 = float(v @ g) + n_missing
    smoothing = params[P_SMOOTHING]
    new_distance = (1.0 - smoothing) * distance + smoothing * d2
    ratio_distance = new_distance / params[P_DISTANCE_LIMIT]

    new_deviations = np.empty(d)
    new_runs = runs.copy()
    ratio_run = 0.0
    deviation_sum = 0.0
    level_sum = 0.0
    for i in range(d):
        # Reconstruction-based contribution: the squared distance of input i from its
        # conditional expectation given everything else, in conditional standard deviations.
        deviation = g[i] * g[i] / precision[i, i]
        new_deviations[i] = (1.0 - smoothing) * deviations[i] + smoothing * deviation
        deviation_sum += new_deviations[i]
        level_sum += q[i] * q[i] / level_precision[i, i]
        value = x[inputs[i]]
        if math.isfinite(value):
            new_runs[i] = runs[i] + 1.0 if value == last[i] else 0.0
        ratio_run = max(ratio_run, new_runs[i] / run_limits[i])
    ratio = max(ratio_distance, ratio_level, ratio_run)

    contributions[:] = 0.0
    for i in range(d):
        part = new_runs[i] / run_limits[i]
        if deviation_sum > 0.0:
            part = max(part, ratio_distance * new_deviations[i] / deviation_sum)
        if level_sum > 0.0:
            part = max(part, ratio_level * q[i] * q[i] / level_precision[i, i] / level_sum)
        contributions[inputs[i]] = part

    if update:
        level[:] = new_level
        deviations[:] = new_deviations
        runs[:] = new_runs
        for i in range(d):
            value = x[inputs[i]]
            if math.isfinite(value):
                last[i] = value
        for k in range(n_lags - 1, 0, -1):
            lags[k] = lags[k - 1]
        if n_lags > 0:
            lags[0] = z + shift
        adapt = params[P_ADAPT]
        if adapt > 0.0 and ratio <= 1.0:
            shift += adapt * z
            # The centre may wander by at most half the tolerance from the reference mean.
            size = math.sqrt(float(shift @ (level_precision @ shift)))
            bound = 0.5 * math.sqrt(params[P_TOLERANCE2])
            if size > bound:
                shift *= bound / size
    return ratio, new_distance, d2, level_stat / variance


Stream = tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
]


@njit(cache=True, nogil=True)
def fresh_stream(n_lags: int, d: int) -> Stream:
    """The stream state before any reading: lags, level, deviations, last values, runs, shift."""
    return (
        np.zeros((n_lags, d)),
        np.zeros(d),
        np.ones(d),
        np.full(d, np.nan),
        np.zeros(d),
        np.zeros(d),
    )


@njit(cache=True, nogil=True)
def statistics(
    X: NDArray[np.float64],
    inputs: NDArray[np.int64],
    center: NDArray[np.float64],
    scale: NDArray[np.float64],
    precision: NDArray[np.float64],
    level_precision: NDArray[np.float64],
    run_limits: NDArray[np.float64],
    params: NDArray[np.float64],
    n_lags: int,
    distance: float,
) -> NDArray[np.float64]:
    """Stream ``X`` through a fresh state; per row: the smoothed distance, distance and level."""
    lags, level, deviations, last, runs, shift = fresh_stream(n_lags, inputs.shape[0])
    contributions = np.empty(X.shape[1])
    out = np.empty((X.shape[0], 3))
    for t in range(X.shape[0]):
        _, distance, d2, level_stat = advance(
            X[t],
            inputs,
            center,
            scale,
            precision,
            level_precision,
            run_limits,
            params,
            lags,
            level,
            deviations,
            last,
            runs,
            shift,
            distance,
            t,
            True,
            contributions,
        )
        out[t, 0] = distance
        out[t, 1] = d2
        out[t, 2] = level_stat
    return out
