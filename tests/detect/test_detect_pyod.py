"""PyODDetector: PyOD models refit on a sliding window, and PyOD as an optional dependency."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from detector_behaviour import (
    BEHAVIOURS,
    COLUMNS,
    check_recovery,
    check_single_input_noise,
    check_single_input_spikes,
    stream,
)

from edgewise.detect import PyODDetector

SIZE = 10.0


def make(**overrides: Any) -> PyODDetector:
    return PyODDetector(**overrides)


@pytest.mark.parametrize("check", BEHAVIOURS, ids=lambda c: c.__name__)
def test_behaviour(check: Callable[..., None]) -> None:
    check(make, SIZE)


def test_recovery(caplog: pytest.LogCaptureFixture) -> None:
    check_recovery(make, SIZE, caplog)


def test_isolation_forest_is_seeded() -> None:
    X = stream(300)
    X[-1, 2] += 15.0

    def scores(seed: int) -> Any:
        detector = PyODDetector(model="IForest", params={"n_estimators": 20}, seed=seed)
        return detector.detect_many(X, COLUMNS).scores

    first = scores(7)
    np.testing.assert_array_equal(first, scores(7))
    assert not np.array_equal(first, scores(8))
    assert first[-1] > np.median(first[150:-1])


def test_single_input_noise_is_rarely_flagged() -> None:
    # The plain k-th neighbour distance flagged ~15% of these readings.
    check_single_input_noise(lambda: PyODDetector(seed=0), 5000, 2)


def test_spikes_on_a_single_input_are_flagged() -> None:
    check_single_input_spikes(lambda: PyODDetector(seed=0))


def test_knn_distance_is_put_in_spreads() -> None:
    detector = PyODDetector(seed=0)
    detector.commission(np.random.default_rng(2).normal(size=(1000, 1)))
    radii = [detector._raw_score({"x0": x}) for x in [1.0, 2.0, 4.0, 6.0]]
    np.testing.assert_allclose(radii, [1.0, 2.0, 4.0, 6.0], rtol=0.2, atol=0.2)
    edge = detector.edge_  # the radius and its slope run on continuously past the hinge
    assert detector.edge_radius_**2 == pytest.approx(
        2.0 * np.log(edge / detector.median_) + detector.radius_sq_
    )
    assert detector.edge_radius_ * edge == pytest.approx(1.0)


def test_refits_on_the_window_every_refit_every_readings() -> None:
    detector = PyODDetector(window=40, refit_every=25, warmup=0)
    detector.commission(stream(60))
    assert detector.estimator_ is not None and detector.since_fit_ == 10
    assert len(detector.window_) == 40


def test_missing_pyod_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "pyod" or m.startswith("pyod.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyod", None)
    with pytest.raises(ImportError, match=r"pip install 'edgewise\[pyod\]'"):
        PyODDetector().learn_one({"a": 1.0})


@pytest.mark.parametrize("model", ["NoSuchModel", "iforest"])
def test_unknown_model_is_a_clear_value_error(model: str) -> None:
    with pytest.raises(ValueError, match="PyOD has no model"):
        PyODDetector(model=model).learn_one({"a": 1.0})
