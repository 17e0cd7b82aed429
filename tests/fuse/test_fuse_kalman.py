from __future__ import annotations

import math

import numpy as np
import pytest

from edgewise.fuse import InverseVarianceFusion, KalmanFusion

NAMES = ["a", "b", "c"]


def _sensors(*, seed: int, n: int = 10_000, step: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.cumsum(rng.normal(0.0, step, n))
    X = truth[:, None] + rng.normal(0.0, 1.0, (n, 3)) * [0.5, 1.0, 2.0]
    X[rng.random(X.shape) < 0.1] = math.nan
    return truth, X


def test_covers_the_truth_and_is_tighter_than_fusing_readings_alone() -> None:
    truth, X = _sensors(seed=0)
    kalman = KalmanFusion(inputs=NAMES, keep_inputs=False).learn_transform_many(X, NAMES)
    alone = InverseVarianceFusion(inputs=NAMES, keep_inputs=False).learn_transform_many(X, NAMES)
    fused, std = kalman[1000:].T
    assert np.mean(np.abs(fused - truth[1000:]) <= 1.96 * std) == pytest.approx(0.95, abs=0.02)
    assert np.mean(std) < 0.7 * np.nanmean(alone[1000:, 1])
    assert np.mean(np.abs(fused - truth[1000:])) < np.nanmean(
        np.abs(alone[1000:, 0] - truth[1000:])
    )


@pytest.mark.parametrize("seed", [0, 4])
def test_covers_a_truth_much_slower_than_the_noise(seed: int) -> None:
    # A step of 0.05 against 0.44 of fused noise per reading: q at lag 1 is lost in the noise
    # (innovation matching covered 0.81 to 0.91 here), the long lags find it.
    truth, X = _sensors(seed=seed, step=0.05)
    fused, std = KalmanFusion(inputs=NAMES, keep_inputs=False).learn_transform_many(X, NAMES).T
    assert np.mean(np.abs(fused - truth)[1000:] <= 1.96 * std[1000:]) == pytest.approx(
        0.95, abs=0.025
    )


def test_estimates_how_fast_the_truth_moves() -> None:
    _, X = _sensors(seed=1, n=20_000)
    fusion = KalmanFusion(inputs=NAMES)
    fusion.learn_many(X, NAMES)
    assert fusion.q_ == pytest.approx(0.04, rel=0.25)


def test_without_readings_it_predicts_with_a_growing_std() -> None:
    _, X = _sensors(seed=2, n=2000)
    fusion = KalmanFusion(inputs=NAMES, keep_inputs=False)
    fusion.learn_many(X, NAMES)
    gap = [fusion.learn_transform_one({}) for _ in range(3)]
    assert gap[0]["fused"] == gap[1]["fused"] == fusion.level_
    assert gap[0]["fused_std"] < gap[1]["fused_std"] < gap[2]["fused_std"]
