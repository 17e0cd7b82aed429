"""OnlineKMeans: the behaviour shared by every detector, and what is particular to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from detector_behaviour import (
    BEHAVIOURS,
    check_recovery,
    check_single_input_noise,
    check_single_input_spikes,
)

from edgewise.detect import OnlineKMeans

SIZE = 10.0


def make(**overrides: Any) -> OnlineKMeans:
    return OnlineKMeans(**{"seed": 42, **overrides})


@pytest.mark.parametrize("check", BEHAVIOURS, ids=lambda c: c.__name__)
def test_behaviour(check: Callable[..., None]) -> None:
    check(make, SIZE)


def test_recovery(caplog: pytest.LogCaptureFixture) -> None:
    check_recovery(make, SIZE, caplog)


def _modes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    on = (rng.random(n) < 0.5).astype(float)
    return np.column_stack([5.0 * on, 80.0 * on]) + rng.normal(0.0, [0.2, 2.0], (n, 2))


def test_an_impossible_combination_is_flagged_though_each_value_is_usual() -> None:
    detector = OnlineKMeans(n_clusters=2, seed=1)
    detector.commission(_modes(600, seed=0), ["current", "flow"])
    found = detector.detect_one({"current": 5.0, "flow": 2.0})
    assert found.is_anomaly and found.explanation is not None
    # Judged against the closest mode, off: it draws current though no flow says it is on.
    assert found.explanation.input == "current" and found.explanation.expected < 1.0
    assert found.explanation.deviation > 10.0
    assert sorted(detector.centroids_[:, 1].round(-1).tolist()) == [0.0, 80.0]


def test_seeding() -> None:
    X = _modes(300, seed=2)
    runs = [OnlineKMeans(seed=s).detect_many(X).scores for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_deviations_are_in_units_of_the_clusters_spread() -> None:
    # Off: flow 0 +- 2. On: flow 80 +- 2. Overall, flow's spread is about 40.
    detector = OnlineKMeans(n_clusters=2, seed=1)
    detector.commission(_modes(600, seed=0), ["current", "flow"])
    found = detector.detect_one({"current": 5.0, "flow": 60.0})
    assert found.is_anomaly and found.explanation is not None
    assert found.explanation.input == "flow" and found.explanation.expected > 75.0
    assert -11.0 < found.explanation.deviation < -5.0  # 20 below, in spreads of ~2 (not of 40)
    assert "below normal" in str(found.explanation)


def test_single_input_noise_is_rarely_flagged() -> None:
    # The plain distance to the closest centroid flagged ~1% of these readings.
    check_single_input_noise(lambda: OnlineKMeans(seed=0), 6000, 3)


def test_spikes_on_a_single_input_are_flagged() -> None:
    check_single_input_spikes(lambda: OnlineKMeans(seed=0))


def test_distances_are_put_in_spreads() -> None:
    detector = OnlineKMeans(seed=0)
    detector.commission(np.random.default_rng(2).normal(size=(3000, 1)))
    # In the tail: a reading near a centroid inside the data is close to normal whatever its value.
    radii = [detector._raw_score({"x0": x}) for x in [3.0, 4.0, 6.0, -6.0]]
    np.testing.assert_allclose(radii, [3.0, 4.0, 6.0, 6.0], rtol=0.25)
