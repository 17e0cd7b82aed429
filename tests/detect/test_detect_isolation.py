"""StreamingIsolationForest: the behaviour shared by every detector, and its own."""

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
    stream,
)

from edgewise.detect import StreamingIsolationForest
from edgewise.detect.isolation import _grow

SIZE = 40.0


def make(**overrides: Any) -> StreamingIsolationForest:
    return StreamingIsolationForest(**{"seed": 42, **overrides})


@pytest.mark.parametrize("check", BEHAVIOURS, ids=lambda c: c.__name__)
def test_behaviour(check: Callable[..., None]) -> None:
    check(make, SIZE)


def test_recovery(caplog: pytest.LogCaptureFixture) -> None:
    check_recovery(make, SIZE, caplog)


def test_the_farther_out_the_higher_the_raw_score() -> None:
    detector = StreamingIsolationForest(seed=0)
    detector.commission(stream(300))
    raws = [detector._raw_score({"x0": 0.0, "x1": v, "x2": 0.0}) for v in (0.0, 3.0, 6.0, 12.0)]
    assert raws == sorted(raws) and raws[0] < 1.5 < raws[-1]


def test_trees_isolate_every_training_point() -> None:
    points = stream(64)
    forest = _grow(points, 5, np.random.default_rng(0))
    assert forest.height == 6 and forest.feature.shape == (5, 127)
    root_sizes_ok = forest.leaf_path.min() >= 0.0
    assert root_sizes_ok
    # Duplicated points cannot be separated: their leaf keeps their average path length.
    same = _grow(np.ones((8, 2)), 3, np.random.default_rng(0))
    assert (same.feature == -1).all()
    assert same.raw_scores(np.ones((1, 2)))[0] == pytest.approx(1.0)


def test_seeding_and_refits() -> None:
    X = stream(300)
    runs = [StreamingIsolationForest(seed=s).detect_many(X).scores for s in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    detector = StreamingIsolationForest(window=50, refit_every=20, seed=0)
    detector.commission(X[:110])
    assert detector.since_fit_ == 10 and len(detector.window_) == 50


def test_single_input_noise_is_rarely_flagged() -> None:
    # The plain forest score flagged ~21% of these readings.
    check_single_input_noise(lambda: StreamingIsolationForest(seed=0), 4000, 3)


def test_spikes_on_a_single_input_are_flagged() -> None:
    check_single_input_spikes(lambda: StreamingIsolationForest(seed=0))


def test_scores_are_put_in_spreads_and_grow_beyond_the_window() -> None:
    detector = StreamingIsolationForest(seed=0)
    detector.commission(np.random.default_rng(2).normal(size=(1024, 1)))  # refit at the last
    radii = [detector._raw_score({"x0": x}) for x in [3.0, 4.0, 6.0, -6.0, 12.0]]
    np.testing.assert_allclose(radii, [3.0, 4.0, 6.0, 6.0, 12.0], rtol=0.25)
    # The box leaves out the three most extreme readings of the window on each side.
    assert np.sort(np.array(detector.window_)[:, 0])[3] == detector.low_[0]
