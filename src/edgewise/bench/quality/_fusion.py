"""Fusion benchmark: do the fused 95% intervals of simulated redundant sensors cover the truth?"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgewise.fuse import InverseVarianceFusion, KalmanFusion
from edgewise.stream import Array

__all__ = ["NOISE_STDS", "fusion_coverage", "simulate"]

NOISE_STDS = (0.5, 1.0, 2.0)
"""The sensors' noise levels, given to them in a seeded random order (the fusers never see them)."""

_SENSORS = ["a", "b", "c"]


def simulate(
    *,
    seed: int | np.random.SeedSequence = 0,
    n: int = 10_000,
    step_std: float = 0.2,
    missing: float = 0.1,
) -> tuple[Array, Array]:
    """A random-walk truth and three sensors reading it with independent Gaussian noise.

    Each sensor reading is missing with probability ``missing``. Returns ``(truth, readings)``,
    ``readings`` of shape ``(n, 3)`` with ``nan`` for a missing reading.

    Examples
    --------
    >>> truth, readings = simulate(seed=0, n=20_000)
    >>> np.sort(np.nanstd(readings - truth[:, None], axis=0)).round(2)
    array([0.5, 1. , 2. ])
    """
    rng = np.random.default_rng(seed)
    truth = np.cumsum(rng.normal(0.0, step_std, n))
    noise_stds = np.asarray(NOISE_STDS)[rng.permutation(len(NOISE_STDS))]
    readings = truth[:, None] + rng.normal(0.0, 1.0, (n, len(NOISE_STDS))) * noise_stds
    readings[rng.random(readings.shape) < missing] = np.nan
    return truth, readings


def fusion_coverage(
    *, seed: int = 0, runs: int = 5, n: int = 10_000, warmup: int = 500
) -> dict[str, Any]:
    """Fraction of readings whose fused ``± 1.96 std`` interval covers the truth, after warm-up.

    Both fusers run as a stream over ``runs`` independent simulations (:func:`simulate`, seeds
    spawned from ``seed``) of ``n`` readings; the first ``warmup`` readings of each (while the
    noise estimates settle) are not counted. A reading with no sensor present has no interval and
    counts as not covering. Several runs average out the luck of one run's noise estimates, so
    the number is the method's coverage rather than one draw's.
    """
    fusers = {
        "": InverseVarianceFusion(inputs=_SENSORS, keep_inputs=False),
        "_kalman": KalmanFusion(inputs=_SENSORS, keep_inputs=False),
    }
    covered: dict[str, list[Array]] = {suffix: [] for suffix in fusers}
    stds: dict[str, list[Array]] = {suffix: [] for suffix in fusers}
    for run_seed in np.random.SeedSequence(seed).spawn(runs):
        truth, readings = simulate(seed=run_seed, n=n)
        for suffix, fuser in fusers.items():
            fused, std = fuser.clone().learn_transform_many(readings, _SENSORS)[warmup:].T
            covered[suffix].append(np.abs(fused - truth[warmup:]) <= 1.96 * std)
            stds[suffix].append(std)
    result: dict[str, Any] = {}
    for suffix in fusers:
        result[f"fusion_coverage_95{suffix}"] = float(np.mean(np.concatenate(covered[suffix])))
        result[f"fusion_mean_std{suffix}"] = float(np.nanmean(np.concatenate(stds[suffix])))
    return result
