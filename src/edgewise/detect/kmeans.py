"""Online k-means: distance of a reading to the nearest of k sequentially updated centroids."""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgewise.stream import register

from ._base import JointDetector, Mask, Vector
from ._moments import spread
from ._radius import rank_radius

__all__ = ["OnlineKMeans"]

# Readings buffered, per cluster, before the centroids are seeded with k-means++.
_SEED_PER_CLUSTER = 10
# Readings' worth of weight pulling a cluster's spread towards its input's overall spread, so that
# a young cluster (a handful of near-identical readings) does not judge everything far from it.
_PRIOR = 1
# Quantile of the learned distances above which a distance is no longer put in spreads by its rank
# but grows linearly: the top ranks are few, and hold the missed anomalies (up to 10% of them).
_TOP = 0.9
# Least growth of the radius per cluster spread beyond that quantile, for clusters of separate
# modes, whose spread is much smaller than their input's overall spread.
_LEAST_SLOPE = 0.5


@register("online_kmeans")
class OnlineKMeans(JointDetector):
    """Sequential k-means (MacQueen, 1967) distance detector on all inputs together.

    The first ``10 * n_clusters`` normal readings seed ``n_clusters`` centroids by k-means++
    (random, hence ``seed``); then each normal reading moves its nearest centroid towards it by
    ``1 / count``, the count capped at ``memory`` so that the centroids follow slow changes, and
    updates the cluster's spread (the running root mean square of its readings' gaps to it, for
    each input). The distance to the closest centroid, each input in units of that cluster's
    spread, judges a reading against the operating mode it is closest to; the raw score puts it
    in *spreads*, a radius that the calibration's Gaussian describes well: up to the 90th
    percentile of the last ``calibration_window`` learned readings' distances, the radius of its
    rank among them (the chi distribution's quantile), beyond it growing linearly, in the inputs'
    overall spreads but at least half a radius per cluster spread. The plain distance has an
    exponential-like tail at the edge clusters of a single input (cut-off tails, narrower than
    the tail they hold), so 1% of the normal readings of one input were flagged. It
    learns the joint shape of normal operation (modes, correlations between inputs), which
    per-input detectors cannot see. A missing input is left out of the distance (which is rescaled
    to all inputs) and of the update; the explanation names the observed input farthest from the
    closest centroid, in units of the cluster's spread.

    Parameters
    ----------
    n_clusters
        Number of centroids (operating modes).
    memory
        Cap of a centroid's count: each update moves it at least ``1 / memory`` of the way.
    seed
        Seed of the k-means++ seeding; fixed by default, so the same data give the same output on
        every run; ``None`` draws fresh entropy.
    warmup, learn_anomalies, epsilon, calibration_window, relearn_after, end_after
        See :class:`~edgewise.detect.CalibratedDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detector = OnlineKMeans(n_clusters=2, seed=42)
    >>> for _ in range(600):  # a pump that is either off or on: current and flow move together
    ...     on = float(rng.random() < 0.5)
    ...     _ = detector.detect_one({"current": 5.0 * on + float(rng.normal(0.0, 0.2)),
    ...                              "flow": 80.0 * on + float(rng.normal(0.0, 2.0))})
    >>> round(detector.score_one({"current": 5.1, "flow": 78.0}), 3)
    0.025
    >>> found = detector.detect_one({"current": 5.0, "flow": 10.0})  # drawing current, no flow
    >>> round(found.score, 3), found.is_anomaly
    (1.0, True)
    >>> print(found.explanation)  # judged against the closest mode, off, in its spreads
    current=5 is 20.8 spreads above normal -0.005793
    """

    def __init__(
        self,
        *,
        n_clusters: int = 5,
        memory: int = 1000,
        seed: int | None = 0,
        warmup: int = 100,
        learn_anomalies: bool = False,
        epsilon: float = 1e-5,
        calibration_window: int = 1000,
        relearn_after: int | None = 200,
        end_after: int = 30,
    ) -> None:
        super().__init__(
            warmup=warmup,
            learn_anomalies=learn_anomalies,
            epsilon=epsilon,
            calibration_window=calibration_window,
            relearn_after=relearn_after,
            end_after=end_after,
        )
        self.n_clusters = n_clusters
        self.memory = memory
        self.seed = seed

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"seed": 42}
        yield {"n_clusters": 1, "memory": 50, "warmup": 20, "seed": 7}

    def _validate(self) -> None:
        super()._validate()
        if self.n_clusters < 1:
            raise ValueError(f"n_clusters must be >= 1, got {self.n_clusters}")
        if self.memory < 1:
            raise ValueError(f"memory must be >= 1, got {self.memory}")

    def _reset_vector_model(self) -> None:
        self.rng_ = np.random.default_rng(self.seed)
        self.seeding_: list[Vector] = []
        self.centroids_ = np.empty((0, 0))
        self.counts_ = np.empty(0)
        self.sq_gaps_ = np.empty((0, 0))
        self.arrivals_: deque[float] = deque()
        self.levels_: list[float] = []

    def _scales(self) -> Vector:
        return np.array(
            [spread(m.std, m.mean) if m.n > 1 else 1.0 for m in self.moments_], dtype=np.float64
        )

    def _nearest(self, v: Vector, observed: Mask) -> tuple[int, float]:
        """Index of the nearest centroid and the distance to it, over the observed inputs."""
        gaps = (self.centroids_[:, observed] - v[observed]) / self._scales()[observed]
        distances = np.sqrt(np.sum(gaps * gaps, axis=1) * (len(v) / observed.sum()))
        i = int(np.argmin(distances))
        return i, float(distances[i])

    def _cluster_scales(self) -> NDArray[np.float64]:
        """Each cluster's spread of each input, shrunk towards the input's overall spread."""
        counts = self.counts_[:, None]
        overall = self._scales() ** 2
        return np.sqrt((counts * self.sq_gaps_ + _PRIOR * overall) / (counts + _PRIOR))

    def _closest(self, v: Vector, observed: Mask) -> tuple[int, float]:
        """The centroid closest in its cluster's spreads and that distance, over observed inputs."""
        gaps = (self.centroids_[:, observed] - v[observed]) / self._cluster_scales()[:, observed]
        distances = np.sqrt(np.sum(gaps * gaps, axis=1) * (len(v) / observed.sum()))
        i = int(np.argmin(distances))
        return i, float(distances[i])

    def _score_vector(self, v: Vector, observed: Mask) -> float:
        if not len(self.centroids_):
            return math.nan
        i, distance = self._closest(v, observed)
        if not self.levels_:
            return distance
        # Within the learned distances, the radius of their rank; beyond their upper quantile, on
        # in the inputs' overall spreads (an edge cluster of one input is a cut-off tail whose
        # spread is well below the tail's), yet at least half a radius per cluster spread.
        top = self.levels_[int(_TOP * (len(self.levels_) - 1))]
        radius = rank_radius(min(distance, top), self.levels_, len(v))
        if distance <= top:
            return radius
        ratios = (self._cluster_scales()[i] / self._scales())[observed]
        slope = max(_LEAST_SLOPE, float(np.sqrt(np.mean(ratios * ratios))))
        return radius + (distance - top) * slope

    def _expected(self, v: Vector, observed: Mask) -> tuple[Vector, Vector]:
        if not len(self.centroids_):
            return super()._expected(v, observed)
        i = self._closest(v, observed)[0]
        return self.centroids_[i].copy(), self._cluster_scales()[i]

    def _learn_vector(self, v: Vector, observed: Mask) -> None:
        if len(self.centroids_):
            self._keep_distance(self._closest(v, observed)[1])
            self._move(v, observed)
            return
        self.seeding_.append(v)
        if len(self.seeding_) == _SEED_PER_CLUSTER * self.n_clusters:
            self._seed_centroids()

    def _keep_distance(self, distance: float) -> None:
        """Keep the distance of a learned reading among the last ``calibration_window`` ones."""
        if len(self.arrivals_) == self.calibration_window:
            del self.levels_[bisect.bisect_left(self.levels_, self.arrivals_.popleft())]
        self.arrivals_.append(distance)
        bisect.insort(self.levels_, distance)

    def _move(self, v: Vector, observed: Mask) -> None:
        i = self._nearest(v, observed)[0]
        self.counts_[i] = min(self.counts_[i] + 1.0, self.memory)
        gaps = v - self.centroids_[i]
        self.centroids_[i] += np.where(observed, gaps / self.counts_[i], 0.0)
        self.sq_gaps_[i] += np.where(
            observed, (gaps * gaps - self.sq_gaps_[i]) / self.counts_[i], 0.0
        )

    def _seed_centroids(self) -> None:
        """k-means++ on the buffered readings, which then update the centroids in turn."""
        points = np.array(self.seeding_)
        scaled = points / self._scales()
        chosen = [int(self.rng_.integers(len(points)))]
        for _ in range(1, self.n_clusters):
            gaps = scaled[:, None, :] - scaled[chosen][None, :, :]
            nearest = np.min(np.sum(gaps * gaps, axis=2), axis=1)
            total = float(nearest.sum())
            weights = nearest / total if total > 0.0 else None  # all alike: pick uniformly
            chosen.append(int(self.rng_.choice(len(points), p=weights)))
        self.centroids_ = points[chosen].copy()
        self.counts_ = np.ones(self.n_clusters)
        self.sq_gaps_ = np.zeros_like(self.centroids_)
        self.seeding_ = []
        everywhere = np.ones(points.shape[1], dtype=np.bool_)
        for point in points:
            self._move(point, everywhere)
