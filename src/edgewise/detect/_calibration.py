"""Online calibration of raw anomaly scores: [0, 1] scores and decisions, no contamination rate.

Every detector has its own raw score (a z-score, a distance, a path length, a CUSUM sum...) whose
scale depends on the data. :class:`TailCalibration` remembers the raw scores of the last ``window``
readings that were learned as normal, and judges a new raw score ``r`` by how improbable it is
under a Gaussian fitted to them, as Numenta's anomaly likelihood does (Ahmad et al., 2017):

* ``q = P(N(mean, std) >= r)``, the upper tail probability (raw scores below the mean are normal);
* ``score = log(q) / log(epsilon**2)``, clipped to [0, 1]: 0 at ``q = 1``, **0.5 at**
  ``q = epsilon``, 1 at ``q = epsilon**2`` or less (with ``epsilon = 1e-5`` this is Numenta's
  log-likelihood, which maps ``1 - likelihood = 1e-10`` to 1);
* ``is_anomaly = score >= 0.5``, that is ``q <= epsilon``.

Numenta tests a short moving average of raw scores; here each reading's own raw score is tested,
because edgewise's raw scores are already standardised per reading and a moving average would go
on flagging the normal readings that follow a spike. Sustained small shifts are the job of the
detectors built for them (:class:`~edgewise.detect.CUSUM`, :class:`~edgewise.detect.EWMAChart`).
"""

from __future__ import annotations

import bisect
import math
from collections import deque

from edgewise.stream import state_type

from ._moments import spread

__all__ = ["FLAG_AT", "TailCalibration"]

FLAG_AT = 0.5
"""Calibrated scores at or above this are anomalies (tail probability at most ``epsilon``)."""

_SQRT2 = math.sqrt(2.0)
# The Gaussian is matched to the raw scores' median and this upper quantile.
_UPPER = 0.95
_UPPER_Z = 1.6448536269514722  # the standard normal's 0.95 quantile


@state_type
class TailCalibration:
    """Gaussian tail calibration of a raw score stream over a sliding window.

    Parameters
    ----------
    window
        How many of the latest normal raw scores the Gaussian is fitted to.
    epsilon
        Tail probability at which a reading is flagged.

    Examples
    --------
    >>> calibration = TailCalibration(window=100, epsilon=1e-5)
    >>> for raw in [1.0, 1.2, 0.8, 1.1, 0.9] * 20:
    ...     calibration.learn(raw)
    >>> round(calibration.score(1.3), 3), round(calibration.score(1.5), 3)
    (0.217, 0.471)
    >>> calibration.score(2.0)
    1.0
    """

    def __init__(self, *, window: int, epsilon: float) -> None:
        self.window = window
        self.epsilon = epsilon
        self._arrivals: deque[float] = deque()
        self._sorted: list[float] = []
        self._log_floor = 2.0 * math.log(epsilon)

    def __len__(self) -> int:
        return len(self._sorted)

    def learn(self, raw: float) -> None:
        """Remember the raw score of a reading learned as normal (nan is ignored)."""
        if not math.isfinite(raw):
            return
        if len(self._arrivals) == self.window:
            oldest = self._arrivals.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]
        self._arrivals.append(raw)
        bisect.insort(self._sorted, raw)

    def _quantile(self, q: float) -> float:
        position = q * (len(self._sorted) - 1)
        below = math.floor(position)
        above = min(below + 1, len(self._sorted) - 1)
        low, high = self._sorted[below], self._sorted[above]
        return low + (position - below) * (high - low)

    def tail(self, raw: float) -> float:
        """Upper tail probability of ``raw``; 1 while fewer than two raw scores are known."""
        if len(self._sorted) < 2 or math.isnan(raw):
            return 1.0
        median = self._quantile(0.5)
        scale = (self._quantile(_UPPER) - median) / _UPPER_Z
        z = (raw - median) / spread(scale, median)
        return 0.5 * math.erfc(z / _SQRT2)

    def score(self, raw: float) -> float:
        """The calibrated score of ``raw`` in [0, 1]; at least :data:`FLAG_AT` means anomalous."""
        q = self.tail(raw)
        if q <= 0.0:
            return 1.0
        return max(0.0, min(1.0, math.log(q) / self._log_floor))
