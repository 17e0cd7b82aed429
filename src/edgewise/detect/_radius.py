"""Raw scores put in *spreads*: radii that the shared Gaussian calibration describes well.

The calibration matches a Gaussian to the raw scores' median and 95th percentile. Scores of
density-like models (neighbour distances, isolation paths, distances to cluster centres) have a
far heavier upper tail than that, so too many normal readings look extreme; a radius, how many
spreads from normal a reading lies, has the chi distribution's light tail.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

__all__ = ["chi_radius", "rank_radius"]


def chi_radius(dim: int, probability: float) -> float:
    """The ``probability`` quantile of the chi distribution with ``dim`` degrees of freedom.

    The radius below which that share of a ``dim``-dimensional standard Gaussian lies.

    Examples
    --------
    >>> round(chi_radius(1, 0.95), 3), round(chi_radius(3, 0.5), 3)
    (1.96, 1.538)
    """
    from scipy.special import gammaincinv  # loaded on first use

    return math.sqrt(2.0 * float(gammaincinv(dim / 2.0, probability)))


def rank_radius(raw: float, levels: Sequence[float], dim: int) -> float:
    """``raw`` put in spreads through its rank among the sorted reference scores ``levels``.

    The share of ``levels`` below ``raw`` (interpolated, kept half a rank away from 0 and 1) is
    taken as the share of a ``dim``-dimensional Gaussian within the radius returned: whatever
    the raw score's distribution, normal readings get chi-distributed radii. It stops at the top
    level's radius: what lies beyond the reference is for the caller to measure.

    Examples
    --------
    >>> levels = sorted(abs(x) for x in [0.1, -0.4, 0.7, -1.2, 1.9, 0.2, -0.9, 2.6])
    >>> round(rank_radius(0.8, levels, 1), 3), round(rank_radius(9.0, levels, 1), 3)
    (0.674, 1.863)
    """
    n = len(levels)
    # Scores equal to reference levels up to rounding (a window of identical readings gives
    # identical scores, summed in another order) take the middle of their ranks.
    tolerance = 1e-9 * max(1.0, abs(raw))
    above = bisect.bisect_left(levels, raw - tolerance)
    tied = bisect.bisect_right(levels, raw + tolerance) - above
    if tied:
        return chi_radius(dim, min(max(above + tied / 2.0, 0.5), n - 0.5) / n)
    if above == 0 or above == n:
        return chi_radius(dim, (0.5 if above == 0 else n - 0.5) / n)
    low, high = float(levels[above - 1]), float(levels[above])
    within = (raw - low) / (high - low) if high > low else 0.5
    return chi_radius(dim, (above - 0.5 + within) / n)
