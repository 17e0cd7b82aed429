"""Kalman imputation: a local linear trend per value, its noise learned from the stream."""

from __future__ import annotations

import math

from edgewise.stream import Values, register, state_type

from ._base import Imputer

__all__ = ["Kalman"]

# The prior variance of level and slope when a track starts, in units of the mean squared first
# difference: wide enough to let the first readings set them, narrow enough to keep precision.
_PRIOR_SCALE = 1e4


@state_type
class _Track:
    """A local linear trend Kalman filter on one value, with moment estimates of its noise.

    Model: ``y = level + e`` (variance ``r``), ``level += slope + u`` (``q``), ``slope += v``
    (``q_slope``). Over a stretch where the slope barely moves, the first differences have
    autocovariances ``q + 2r`` (lag 0) and ``-r`` (lag 1), which give ``r`` and ``q``; the second
    differences have variance ``q_slope + 2q + 6r``, which gives ``q_slope``. The moments are
    exponentially weighted means over consecutive present values.
    """

    __slots__ = ("last", "level", "moments", "p00", "p01", "p11", "recent", "slope", "started")

    def __init__(self) -> None:
        self.last = math.nan  # last present value: the fallback until the filter starts
        self.recent = [math.nan, math.nan]  # the two values before this reading (nan = missing)
        # Weighted sums and weights of d1, d1^2, d1 * previous d1, d2^2 (d: differences).
        self.moments = [[0.0] * 4, [0.0] * 4]
        self.started = False
        self.level = self.slope = self.p00 = self.p01 = self.p11 = 0.0

    def noise(self) -> tuple[float, float, float]:
        """Estimated variances ``(r, q, q_slope)``, each clipped at zero."""
        d1, d1_sq, d1_lag, d2_sq = (
            s / w if w > 0 else 0.0 for s, w in zip(*self.moments, strict=True)
        )
        r = max(d1 * d1 - d1_lag, 0.0)
        q = max(d1_sq - d1 * d1 - 2.0 * r, 0.0)
        return r, q, max(d2_sq - 2.0 * q - 6.0 * r, 0.0)

    def predict(self) -> float:
        return self.level + self.slope if self.started else self.last

    def learn(self, value: float, decay: float) -> None:
        before, previous = self.recent
        d1 = value - previous
        samples = (d1, d1 * d1, d1 * (previous - before), (d1 - previous + before) ** 2)
        sums, weights = self.moments
        for k, sample in enumerate(samples):
            if not math.isnan(sample):
                sums[k] = decay * sums[k] + sample
                weights[k] = decay * weights[k] + 1.0
        r, q, q_slope = self.noise()
        if self.started:
            self.level += self.slope
            self.p00 += 2.0 * self.p01 + self.p11 + q
            self.p01 += self.p11
            self.p11 += q_slope
            if not math.isnan(value):
                self._correct(value, r)
        elif not math.isnan(value) and weights[1] > 0 and sums[1] > 0:
            # Start once the noise has a scale, with a wide prior in that scale.
            self.started = True
            self.level = value
            self.slope = d1
            self.p00 = self.p11 = _PRIOR_SCALE * sums[1] / weights[1]
        if not math.isnan(value):
            self.last = value
        self.recent = [previous, value]

    def _correct(self, value: float, r: float) -> None:
        s = self.p00 + r
        if s <= 0.0:  # a noiseless, exactly known level: the reading is the level
            self.level = value
            return
        error = value - self.level
        k0, k1 = self.p00 / s, self.p01 / s
        self.level += k0 * error
        self.slope += k1 * error
        self.p11 -= k1 * self.p01
        self.p01 -= k0 * self.p01
        self.p00 -= k0 * self.p00


@register("kalman")
class Kalman(Imputer):
    """Fill a missing value with a local linear trend Kalman filter's one-step prediction.

    Each value has its own filter: a level that drifts, a slope that drifts, and reading noise.
    The three noise variances are estimated online by the method of moments (from the
    autocovariances of the value's first and second differences), over an exponential memory of
    ``halflife`` readings, so nothing needs tuning per sensor. A missing
    value is filled with the prediction ``level + slope``; through a gap the filter keeps
    predicting. Until a value's noise has a scale (a few consecutive readings), the last present
    value is used.

    Parameters
    ----------
    halflife
        Half-life of the noise estimates' memory, in readings.

    Attributes
    ----------
    tracks_ : dict[str, _Track]
        The filter of each value: ``level``, ``slope``, and ``noise()`` = ``(r, q, q_slope)``.
    imputed_count_ : int
        Values filled so far on the streaming path.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> imputer = Kalman()
    >>> for t in range(200):
    ...     _ = imputer.learn_transform_one({"x": 0.5 * t + rng.gauss(0.0, 0.1)})
    >>> round(imputer.learn_transform_one({"x": float("nan")})["x"], 1)
    100.0
    """

    tracks_: dict[str, _Track]

    def __init__(self, *, halflife: float = 500.0) -> None:
        self.halflife = halflife

    def learn_one(self, x: Values) -> None:
        if not hasattr(self, "tracks_"):
            if not self.halflife > 0:
                raise ValueError(f"halflife must be > 0, got {self.halflife}")
            self.tracks_ = {}
        decay = 0.5 ** (1.0 / self.halflife)
        for name, value in x.items():
            track = self.tracks_.get(name)
            if track is None:
                if math.isnan(value):
                    continue
                track = self.tracks_[name] = _Track()
            track.learn(value, decay)

    def transform_one(self, x: Values) -> Values:
        tracks = getattr(self, "tracks_", {})
        return {
            k: tracks[k].predict() if math.isnan(v) and k in tracks else v for k, v in x.items()
        }
