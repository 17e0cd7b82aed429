"""The per-row rewards of NAB's scoring rules (Lavin & Ahmad 2015, Ahmad et al. 2017).

A detection on row ``i`` inside a window earns ``tp_weight * S(p) / S(-1)``, where the position
``p = -(right - i + 1) / width`` runs from ``-1`` on the window's first row to ``-1 / width`` on
its last, and ``S`` is :func:`scaled_sigmoid`. Dividing by ``S(-1)`` is what NAB's scorer does: a
detection on a window's first row earns exactly ``tp_weight``, so the perfect score is
``tp_weight`` per window. A detection outside every window costs ``fp_weight * S(d)`` with
``d = (i - right) / (width - 1)`` measured from the preceding window, or ``fp_weight`` in full when
no window precedes it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._corpus import NabFile
from ._profiles import Profile

__all__ = ["row_rewards", "scaled_sigmoid"]

_FAR = 3.0
"""Relative positions beyond this are pinned to ``-1``."""


def scaled_sigmoid(position: ArrayLike) -> NDArray[np.float64]:
    """NAB's reward curve ``2 * sigmoid(-5 x) - 1``, and exactly ``-1`` for ``x > 3``.

    Examples
    --------
    >>> scaled_sigmoid([-1.0, -0.5, 0.0, 1.0, 3.5])
    array([ 0.9866143 ,  0.84828364,  0.        , -0.9866143 , -1.        ])
    """
    x = np.asarray(position, dtype=np.float64)
    # Capping before exp avoids overflow warnings; the capped values are replaced anyway.
    curve = 2.0 / (1.0 + np.exp(5.0 * np.minimum(x, _FAR))) - 1.0
    return np.where(x > _FAR, -1.0, curve)


def row_rewards(file: NabFile, profile: Profile) -> NDArray[np.float64]:
    """What each row of ``file`` adds to the score if it is a counted detection.

    Inside a window this is the true-positive reward (only a window's first detection counts);
    outside it is the (negative) false-positive cost. A window of one row has no spread to measure
    a distance past it with, so false positives after it cost ``fp_weight`` in full.
    """
    n = len(file)
    if not file.windows:
        return np.full(n, -profile.fp_weight)
    rows = np.arange(n)
    starts = np.array([start for start, _ in file.windows])
    ends = np.array([end for _, end in file.windows])
    # The window each row is in or, outside windows, the one before it (-1 when there is none).
    k = np.searchsorted(starts, rows, side="right") - 1
    has_window = k >= 0
    right = ends[np.maximum(k, 0)]
    width = (right - starts[np.maximum(k, 0)] + 1).astype(np.float64)
    inside = has_window & (rows <= right)

    rewards = np.full(n, -profile.fp_weight)
    position = -(right[inside] - rows[inside] + 1) / width[inside]
    rewards[inside] = profile.tp_weight * scaled_sigmoid(position) / scaled_sigmoid(-1.0)
    after = has_window & ~inside
    with np.errstate(divide="ignore"):
        distance = (rows[after] - right[after]) / (width[after] - 1.0)
    rewards[after] = profile.fp_weight * scaled_sigmoid(distance)
    return rewards
