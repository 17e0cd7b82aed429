"""A multivariate monitor for processes with many correlated inputs, fitted on known-normal data."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import NamedTuple, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from edgewise.stream import state_type

from . import _process_monitor_kernel as kernel

__all__ = ["ProcessMonitor"]

# Contiguous cross-validation folds of the reference used to calibrate the limits.
FOLDS = 5
# Chance, per input and reading, that a run of equal values as long as the run limit is normal;
# and the confidence of the upper bound on how often an input repeats its last value.
RUN_CHANCE, RUN_CONFIDENCE = 1e-6, 0.99
# The default tolerance: three reference standard deviations (Mahalanobis), or six times the
# expected Mahalanobis size of the reference mean's error, sqrt(inputs / rows), if larger.
TOLERANCE_SIGMAS, TOLERANCE_ERRORS = 3.0, 6.0


MakeParams = Callable[[float, float, float, int], NDArray[np.float64]]
"""``(distance_limit, level_limit, tolerance, reference_rows) -> the kernel's parameter vector``."""


class _Model(NamedTuple):
    inputs: NDArray[np.int64]
    center: NDArray[np.float64]
    scale: NDArray[np.float64]
    precision: NDArray[np.float64]
    level_precision: NDArray[np.float64]
    run_limits: NDArray[np.float64]
    distance_start: float
    shrinkage: float


@state_type
class ProcessMonitor:
    """Watch many correlated inputs against a model of known-normal reference rows.

    :meth:`fit` learns, from reference rows only, a Gaussian model of the current inputs together
    with their last ``lags`` values: each input centred and scaled, the covariance of the lagged
    vector shrunk towards its diagonal (by the Schafer-Strimmer estimate unless ``shrinkage`` is
    given), so that a few hundred rows are enough for hundreds of dimensions. Three views then
    watch the stream:

    * **level** -- the EWMA (weight ``level_smoothing``) of the current inputs and its Mahalanobis
      size: sustained shifts and slow drifts;
    * **distance** -- the Mahalanobis distance of the lagged vector from that level, smoothed by an
      EWMA of weight ``smoothing``: the structure of the process. It rises when inputs vary more
      than they did, stop following each other or their own dynamics, or jump faster than the
      level follows;
    * **stuck** -- per input, the run of readings that repeat the last value exactly, against the
      run whose chance is below 1e-6 given how often the input repeated itself in the reference
      (at an upper 99% bound of that rate, so that a short reference is not trusted too far).

    **Limits.** The reference is cut into five contiguous blocks; each block is streamed through a
    model fitted on the other four. These out-of-sample statistics contain what in-sample ones
    hide (the error of the model, slow variation between blocks), so limits taken from them hold
    on new data. The distance limit is the upper ``alpha`` quantile of a scaled chi-square with
    the mean of the out-of-sample distances and the variance of their EWMA (autocorrelation
    included, plus the error of the reference's own scales, ``2 (lags + 1)^2 d / (n - 5)``, which
    does not average out). The level limit is the same quantile fitted to the out-of-sample level
    statistic, whose variance includes the error of the reference mean (``1 / n`` of a
    reading's); it is then raised, where lower, to a sustained shift of ``tolerance`` reference
    standard deviations (Mahalanobis). By default the tolerance is 3, or six times the expected
    size of the reference mean's error, ``6 sqrt(d / n)``, if that is larger: a short reference
    gives its mean, and so small shifts, little weight.

    **Score.** ``r`` is the largest ratio of a view to its limit and the score is ``r / (1 + r)``:
    in [0, 1), exactly 0.5 at the limit, and still ranking readings far beyond it. A reading is
    abnormal when ``r > 1``, for as long as the process stays abnormal. ``contributions`` (one per
    input, in the units of ``r``) share each view's ratio among the inputs in proportion to their
    reconstruction-based contributions: for the distance, the squared deviation of each input
    from its conditional expectation given all the others, smoothed like the distance; for the
    level, its part of the level's size. A stuck input contributes its run over its limit. The
    largest contribution names the input that broke the model.

    **Missing values** (``nan``, or any non-finite value) are replaced by their conditional
    expectation given the observed inputs, the lags and the current level, which makes the
    distance that of the observed entries alone; each missing entry adds its expected share, 1,
    back. Lags older than the stream are imputed the same way. Inputs that never vary in the
    reference are not monitored (their normal spread is unknown; watch them with a range rule),
    and an input's scale is at least its resolution (the smallest step between its reference
    values), so that a quantised input that flickered once in the reference is not given a tiny
    spread.

    **Adaptation.** None by default (``adapt=0``): the reference is known to be normal, and a
    model that follows the stream absorbs slow faults (drifts, wear) before they are flagged.
    With ``adapt > 0``, readings judged normal move the model's centre towards them at that rate,
    never further than half the tolerance from the reference mean; abnormal readings are never
    learned.

    Parameters
    ----------
    lags
        Past readings of every input in the model (0: a static model).
    smoothing
        EWMA weight of the distance view (and of the contributions).
    level_smoothing
        EWMA weight of the level view.
    tolerance
        Smallest sustained shift, in reference standard deviations (Mahalanobis), that counts as
        abnormal; ``None``: ``max(3, 6 sqrt(d / n))`` for ``d`` monitored inputs, ``n`` rows.
    alpha
        Upper tail probability of the distance and level limits under their cross-validated
        distributions.
    shrinkage
        Weight of the diagonal in the covariance, in (0, 1]; ``None`` estimates it.
    adapt
        Rate at which readings judged normal move the centre (0: never).
    seed
        Accepted for the detector contract; the monitor is deterministic and draws nothing.

    Examples
    --------
    Two inputs that follow a third; the reference is normal, then the first input breaks away
    while staying in its normal range:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = rng.normal(size=(600, 1))
    >>> X = np.hstack([t, 2 * t, -t]) + 0.1 * rng.normal(size=(600, 3))
    >>> monitor = ProcessMonitor().fit(X[:400])
    >>> [round(monitor.step(x)[0], 2) for x in X[400:403]]
    [0.33, 0.32, 0.33]
    >>> X[500:, 0] = -X[500:, 0]
    >>> for x in X[403:520]:
    ...     score, abnormal, contributions = monitor.step(x)
    >>> round(score, 2), abnormal, int(np.argmax(contributions))
    (0.98, True, 0)
    """

    def __init__(
        self,
        *,
        lags: int = 1,
        smoothing: float = 0.1,
        level_smoothing: float = 0.05,
        tolerance: float | None = None,
        alpha: float = 1e-4,
        shrinkage: float | None = None,
        adapt: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.lags = lags
        self.smoothing = smoothing
        self.level_smoothing = level_smoothing
        self.tolerance = tolerance
        self.alpha = alpha
        self.shrinkage = shrinkage
        self.adapt = adapt
        self.seed = seed

    def _check_params(self) -> None:
        if not (isinstance(self.lags, int) and self.lags >= 0):
            raise ValueError(f"lags must be a non-negative integer, not {self.lags!r}")
        for name in ("smoothing", "level_smoothing"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("alpha must be in (0, 1)")
        if self.tolerance is not None and self.tolerance < 0.0:
            raise ValueError("tolerance must be non-negative or None")
        if self.shrinkage is not None and not 0.0 < self.shrinkage <= 1.0:
            raise ValueError("shrinkage must be in (0, 1] or None")
        if not 0.0 <= self.adapt < 1.0:
            raise ValueError("adapt must be in [0, 1)")

    def fit(self, X: ArrayLike) -> Self:
        """Learn the model and its limits from known-normal rows (``n x d``, ``nan`` = missing)."""
        self._check_params()
        rows = np.array(X, dtype=np.float64)
        if rows.ndim != 2:
            raise ValueError("X must be two-dimensional: one row per reading")
        if rows.shape[0] < 2 * FOLDS:
            raise ValueError(f"the reference needs at least {2 * FOLDS} rows")
        rows[~np.isfinite(rows)] = np.nan
        model = _reference_model(rows, self.lags, self.shrinkage, self._params)
        blocks = _cross_validated(rows, self.lags, self.shrinkage, self._params)
        n, d = rows.shape[0], model.inputs.shape[0]
        self.n_features_in_ = rows.shape[1]
        self.n_reference_ = n
        self.inputs_ = model.inputs
        self.center_ = model.center
        self.scale_ = model.scale
        self.precision_ = model.precision
        self.level_precision_ = model.level_precision
        self.run_limits_ = model.run_limits
        self.shrinkage_ = model.shrinkage
        self.distance_start_ = model.distance_start
        self.tolerance_ = (
            max(TOLERANCE_SIGMAS, TOLERANCE_ERRORS * math.sqrt(d / n))
            if self.tolerance is None
            else float(self.tolerance)
        )
        distances = [block[:, 1] for block in blocks]
        mean = float(np.mean(np.concatenate(distances)))
        # Each input's scale is estimated with relative variance about 2 / (n - 5); that error
        # weighs on the distance for as long as the stream lasts, in every lag alike.
        persistent = 2.0 * (self.lags + 1) ** 2 * d / max(n - 5, 1)
        variance = _ewma_variance(distances, mean, self.smoothing) + persistent
        self.distance_limit_ = _chi2_limit(mean, variance, self.alpha)
        level = np.concatenate([block[:, 2] for block in blocks])
        self.level_limit_ = _chi2_limit(
            float(np.mean(level)), float(np.var(level, ddof=1)), self.alpha
        )
        self.kernel_params_ = self._params(
            self.distance_limit_, self.level_limit_, self.tolerance_, self.n_reference_
        )
        self.lags_, self.level_, self.deviations_, self.last_, self.runs_, self.shift_ = (
            kernel.fresh_stream(self.lags, d)
        )
        self.distance_ = self.distance_start_
        self.count_ = 0
        return self

    def _params(
        self, distance_limit: float, level_limit: float, tolerance: float, n_reference: int
    ) -> NDArray[np.float64]:
        params = np.empty(kernel.N_PARAMS)
        params[kernel.P_SMOOTHING] = self.smoothing
        params[kernel.P_LEVEL_SMOOTHING] = self.level_smoothing
        params[kernel.P_DISTANCE_LIMIT] = distance_limit
        params[kernel.P_LEVEL_LIMIT] = level_limit
        params[kernel.P_TOLERANCE2] = tolerance**2
        params[kernel.P_INVERSE_N] = 1.0 / n_reference
        params[kernel.P_ADAPT] = self.adapt
        return params

    def _advance(self, x: ArrayLike, update: bool) -> tuple[float, NDArray[np.float64]]:
        if not hasattr(self, "precision_"):
            raise RuntimeError("call fit() first")
        reading = np.asarray(x, dtype=np.float64)
        if reading.shape != (self.n_features_in_,):
            raise ValueError(f"expected {self.n_features_in_} values, got shape {reading.shape}")
        contributions = np.empty(self.n_features_in_)
        ratio, distance, _, _ = kernel.advance(
            reading,
            self.inputs_,
            self.center_,
            self.scale_,
            self.precision_,
            self.level_precision_,
            self.run_limits_,
            self.kernel_params_,
            self.lags_,
            self.level_,
            self.deviations_,
            self.last_,
            self.runs_,
            self.shift_,
            self.distance_,
            self.count_,
            update,
            contributions,
        )
        if update:
            self.distance_ = distance
            self.count_ += 1
        return ratio, contributions

    def ratio(self, x: ArrayLike) -> float:
        """The largest ratio of a view to its limit the next reading ``x`` would get (1 at the
        limit); changes nothing."""
        return self._advance(x, update=False)[0]

    def advance(self, x: ArrayLike) -> tuple[float, NDArray[np.float64]]:
        """Take reading ``x`` and move the stream on: ``(ratio, contributions)``."""
        return self._advance(x, update=True)

    def score(self, x: ArrayLike) -> float:
        """The score the next reading ``x`` would get, in [0, 1); changes nothing."""
        ratio = self.ratio(x)
        return ratio / (1.0 + ratio)

    def step(self, x: ArrayLike) -> tuple[float, bool, NDArray[np.float64]]:
        """Score reading ``x`` and move the stream on: ``(score, abnormal, contributions)``."""
        ratio, contributions = self.advance(x)
        return ratio / (1.0 + ratio), ratio > 1.0, contributions


def _shrunk_covariance(
    U: NDArray[np.float64], shrinkage: float | None
) -> tuple[NDArray[np.float64], float]:
    """Covariance with correlations shrunk towards 0; the weight estimated when not given.

    The estimate is Schäfer & Strimmer's (2005): the summed variance of the sample correlations
    over their summed squares.
    """
    n = U.shape[0]
    centred = U - U.mean(axis=0)
    cov = centred.T @ centred / (n - 1)
    sd = np.sqrt(np.diag(cov))
    if shrinkage is None:
        R = centred / sd
        w = R.T @ R / n
        var = n / (n - 1) ** 3 * ((R * R).T @ (R * R) - n * w * w)
        corr2 = (n / (n - 1) * w) ** 2
        off = ~np.eye(U.shape[1], dtype=bool)
        shrinkage = float(np.clip(var[off].sum() / max(corr2[off].sum(), 1e-300), 0.0, 1.0))
    shrunk = (1.0 - shrinkage) * cov
    shrunk[np.diag_indices_from(shrunk)] = np.diag(cov)
    return shrunk, shrinkage


def _resolution(values: NDArray[np.float64]) -> float:
    steps = np.diff(np.unique(values[np.isfinite(values)]))
    return float(steps.min()) if steps.size else 0.0


def _run_limits(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per input: the run of repeats whose chance, at an upper bound of the repeat rate, is tiny."""
    pairs = np.isfinite(rows[1:]) & np.isfinite(rows[:-1])
    repeats = ((rows[1:] == rows[:-1]) & pairs).sum(axis=0)
    changes = pairs.sum(axis=0) - repeats
    from scipy import special  # loaded on first use: the agent stays small without it

    rate = special.betaincinv(repeats + 1.0, np.maximum(changes, 1e-9), RUN_CONFIDENCE)
    with np.errstate(divide="ignore"):
        return np.where(rate < 1.0, math.log(RUN_CHANCE) / np.log(rate), np.inf)


def _reference_model(
    rows: NDArray[np.float64], n_lags: int, shrinkage: float | None, make_params: MakeParams
) -> _Model:
    with np.errstate(invalid="ignore"):
        center = np.nanmean(rows, axis=0)
        spread = np.nanstd(rows, axis=0, ddof=1)
    varies = np.isfinite(spread) & (spread > 1e-9 * np.maximum(1.0, np.abs(center)))
    inputs = np.flatnonzero(varies).astype(np.int64)
    if inputs.size == 0:
        raise ValueError("no input varies in the reference")
    kept = rows[:, inputs]
    center = center[inputs]
    scale = np.maximum(spread[inputs], [_resolution(c) for c in kept.T])
    Z = (kept - center) / scale
    # Gaps in the reference: the last value (0, the mean, before the first one).
    for t in range(Z.shape[0]):
        gap = np.isnan(Z[t])
        Z[t, gap] = Z[t - 1, gap] if t else 0.0
    n, d = Z.shape
    U = np.hstack([Z[n_lags - k : n - k] for k in range(n_lags + 1)])
    cov, weight = _shrunk_covariance(U, shrinkage)
    precision = np.linalg.inv(cov).astype(np.float64)
    level_precision = np.linalg.inv(cov[:d, :d]).astype(np.float64)
    run_limits = _run_limits(kept)
    # The smoothed distance starts at its in-sample mean, measured by streaming the reference.
    in_sample = kernel.statistics(
        rows,
        inputs,
        center,
        scale,
        precision,
        level_precision,
        run_limits,
        make_params(np.inf, np.inf, 0.0, n),
        n_lags,
        0.0,
    )
    return _Model(
        inputs=inputs,
        center=center,
        scale=scale,
        precision=precision,
        level_precision=level_precision,
        run_limits=run_limits,
        distance_start=float(np.mean(in_sample[:, 1])),
        shrinkage=weight,
    )


def _cross_validated(
    rows: NDArray[np.float64], n_lags: int, shrinkage: float | None, make_params: MakeParams
) -> list[NDArray[np.float64]]:
    """Statistics of each contiguous block streamed through a model of the other blocks."""
    edges = np.linspace(0, rows.shape[0], FOLDS + 1).astype(int)
    parts = []
    for a, b in itertools.pairwise(edges):
        rest = np.vstack([rows[:a], rows[b:]])
        model = _reference_model(rest, n_lags, shrinkage, make_params)
        parts.append(
            kernel.statistics(
                rows[a:b],
                model.inputs,
                model.center,
                model.scale,
                model.precision,
                model.level_precision,
                model.run_limits,
                make_params(np.inf, np.inf, 0.0, rest.shape[0]),
                n_lags,
                model.distance_start,
            )
        )
    return parts


def _ewma_variance(series: list[NDArray[np.float64]], mean: float, weight: float) -> float:
    """Stationary variance of an EWMA of weight ``w`` of series like these, autocorrelated.

    ``g0 w / (2 - w) (1 + 2 sum_k r_k (1 - w)^k)``, with the autocorrelations ``r_k`` pooled over
    the series (each centred on the common ``mean``, so that differences between them count as
    slow variation) up to the lags that still have half as many pairs as lag 0. The factor in
    brackets is at least 1: independent values are the optimistic case.
    """
    longest = max(len(x) for x in series)
    products = np.zeros(longest)
    pairs = np.zeros(longest)
    for x in series:
        c = x - mean
        for k in range(len(c)):
            products[k] += c[: len(c) - k] @ c[k:]
            pairs[k] += len(c) - k
    gamma = products / np.maximum(pairs, 1.0)
    usable = pairs >= 0.5 * pairs[0]  # lags with at least half the pairs of lag 0
    decay = (1.0 - weight) ** np.arange(longest)
    factor = 1.0 + 2.0 * float(np.sum((gamma[1:] / gamma[0] * decay[1:])[usable[1:]]))
    return float(gamma[0]) * weight / (2.0 - weight) * max(factor, 1.0)


def _chi2_limit(mean: float, var: float, alpha: float) -> float:
    """Upper ``alpha`` quantile of the scaled chi-square with this mean and variance."""
    if mean <= 0.0 or var <= 0.0:
        return mean
    from scipy import stats  # loaded on first use: the agent stays small without it

    return var / (2.0 * mean) * float(stats.chi2.ppf(1.0 - alpha, 2.0 * mean * mean / var))
