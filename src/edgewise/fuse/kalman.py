"""Kalman fusion: a local-level Kalman filter fed by every redundant sensor."""

from __future__ import annotations

import math

import numpy as np

from edgewise.stream import Values, register

from ._base import Fusion, combine

__all__ = ["KalmanFusion"]

_LAGS = (1, 2, 4, 8, 16, 32, 64)


@register("kalman_fusion")
class KalmanFusion(Fusion):
    """Fuse redundant sensors with a local-level Kalman filter, reporting its posterior std.

    The true value is a random walk (variance ``q`` per reading); each sensor reads it with its
    own noise variance, estimated online from the spread of its differences with the other
    sensors (see :class:`~edgewise.fuse._base.SensorNoise`). The sensors present in a reading
    update the filter together (their inverse-variance mean is the sufficient statistic), so a
    missing sensor only weakens that update, and a reading with none present is the prediction.
    ``q`` is estimated from differences of the fused measurements ``k`` readings apart, for ``k``
    in 1, 2, 4, ..., 64: their mean square minus the two measurement variances is ``k q`` plus
    the error of those variances, the same at every lag. When the truth moves slowly against the
    noise, ``k q`` is a small difference of large quantities at ``k = 1`` and a clear one at large
    ``k``: ``q`` is the slope of a least-squares line through the lags' means (with exponential
    forgetting), each weighted inverse to its variance ``2 (k q + 2 r)^2``.
    ``fused`` is the filtered value, ``fused_std`` its posterior standard deviation: ``fused ±
    1.96 fused_std`` is a 95% interval for the true value. Through its memory of the past it is
    tighter than :class:`InverseVarianceFusion` when the true value moves slowly.

    Parameters
    ----------
    inputs
        Names of the redundant sensors (at least two).
    output
        Name of the fused value; its standard deviation is ``output + "_std"``.
    keep_inputs
        Whether the inputs stay in the reading beside the fused value.
    halflife
        Half-life of the noise estimates' memory, in readings (``None``: never forget).

    Attributes
    ----------
    level_, variance_ : float
        The filtered value and its variance after the last reading.
    q_ : float
        The estimated variance of the true value's step from one reading to the next.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> fusion = KalmanFusion(inputs=["a", "b", "c"], keep_inputs=False)
    >>> truth = 20.0
    >>> for _ in range(2000):
    ...     truth += rng.gauss(0.0, 0.05)
    ...     x = {"a": truth + rng.gauss(0, 0.1), "b": truth + rng.gauss(0, 0.2),
    ...          "c": truth + rng.gauss(0, 0.4)}
    ...     out = fusion.learn_transform_one(x)
    >>> round(out["fused_std"], 3)  # steady state for the true noise: 0.057; one reading: 0.087
    0.06
    """

    level_: float
    variance_: float
    q_: float
    recent_: list[tuple[float, float]]  # the last fused measurements and their variances
    lags_: list[list[float]]  # per lag: forgetting sums of the k q samples, weights, variances

    def learn_one(self, x: Values) -> None:
        if not hasattr(self, "noise_"):
            self._start()
            self.level_ = self.variance_ = self.q_ = math.nan
            self.recent_ = []
            self.lags_ = [[0.0] * len(_LAGS) for _ in range(3)]
        measured, noise = combine(self._readings(x), self.noise_.variances())
        self.level_, self.variance_ = self._filter(measured, noise)
        if not (math.isnan(measured) or math.isnan(noise)):
            self._learn_q(measured, noise)
        self.recent_ = [(measured, noise), *self.recent_[: _LAGS[-1] - 1]]
        self.noise_.learn(self._readings(x), self._decay())

    def _learn_q(self, measured: float, noise: float) -> None:
        decay = self._decay()
        sums, weights, variances = self.lags_
        for index, lag in enumerate(_LAGS):
            if lag > len(self.recent_):
                break
            before, before_noise = self.recent_[lag - 1]
            if math.isnan(before) or math.isnan(before_noise):
                continue
            # E[(measured - before)^2] = lag q + noise + before_noise.
            sums[index] = decay * sums[index] + (measured - before) ** 2 - noise - before_noise
            weights[index] = decay * weights[index] + 1.0
            variances[index] = decay * variances[index] + noise + before_noise
        seen = [i for i in range(len(_LAGS)) if weights[i] > 0]
        if len(seen) < 2:
            return
        # Weighted least squares of the mean samples on the lag: the slope is q, the intercept
        # absorbs an error of the measurement variances (shared by every lag).
        q = self.q_ if self.q_ > 0 else 0.0
        lags = np.array([_LAGS[i] for i in seen], dtype=np.float64)
        means = np.array([sums[i] / weights[i] for i in seen])
        spread = np.array([variances[i] / weights[i] for i in seen])
        precision = np.array([weights[i] for i in seen]) / (lags * q + spread) ** 2
        centred = lags - float(precision @ lags) / float(precision.sum())
        slope = float(precision @ (centred * means)) / float(precision @ centred**2)
        self.q_ = max(slope, 0.0)

    def transform_one(self, x: Values) -> Values:
        return self._emit(x, *self._filter(*combine(self._readings(x), self._estimate()[0])))

    def _filter(self, measured: float, noise: float) -> tuple[float, float]:
        """The posterior (value, variance) given this reading's fused measurement."""
        level = getattr(self, "level_", math.nan)
        if math.isnan(level) or math.isnan(self.variance_):
            return measured, noise  # the first measurement with a known noise starts the filter
        prior = self.variance_ + (0.0 if math.isnan(self.q_) else self.q_)
        if math.isnan(measured) or math.isnan(noise):
            return level, prior
        gain = prior / (prior + noise)
        return level + gain * (measured - level), (1.0 - gain) * prior
