"""River interoperability: River models as edgewise detectors, edgewise detectors in River."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from detector_behaviour import BEHAVIOURS, check_recovery
from river import anomaly, preprocessing
from river.base import AnomalyDetector

from edgewise.detect import RiverAdapter, RiverDetector, WindowedGaussian, as_river

SIZE = 12.0


def make(**overrides: Any) -> RiverDetector:
    model = anomaly.LocalOutlierFactor(n_neighbors=10)
    return RiverDetector(**{"model": model, "warmup": 100, **overrides})


@pytest.mark.parametrize("check", BEHAVIOURS, ids=lambda c: c.__name__)
def test_behaviour(check: Callable[..., None]) -> None:
    check(make, SIZE)


def test_recovery(caplog: pytest.LogCaptureFixture) -> None:
    check_recovery(make, SIZE, caplog)


def test_the_model_template_is_not_trained() -> None:
    model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=1)
    detector = RiverDetector(model=model)
    detector.detect_many(np.random.default_rng(0).normal(size=(300, 2)))
    assert detector.model is model
    assert model["HalfSpaceTrees"].counter == 0
    assert detector.model_["HalfSpaceTrees"].counter > 0


def _readings(n: int, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    values = rng.normal([20.0, 1500.0], [0.5, 20.0], (n, 2))
    return [{"temp": float(t), "rpm": float(r)} for t, r in values]


def test_adapter_learns_and_scores_in_a_river_pipeline() -> None:
    adapter = as_river(WindowedGaussian(window=50, warmup=20))
    assert isinstance(adapter, RiverAdapter) and isinstance(adapter, AnomalyDetector)
    model = preprocessing.MinMaxScaler() | adapter
    assert model.score_one({"temp": 20.0, "rpm": 1500.0}) == 0.0  # nothing learned yet
    for x in _readings(300, seed=0):
        model.learn_one(x)
    normal = [model.score_one(x) for x in _readings(50, seed=1)]
    spike = model.score_one({"temp": 20.0, "rpm": 1700.0})
    assert max(normal) < 0.5 <= spike <= 1.0
    assert adapter.detector_.n_learned_ == 300


def test_adapter_trains_a_clone_and_river_clone_is_fresh() -> None:
    template = WindowedGaussian(window=50, warmup=20)
    adapter = as_river(template)
    for x in _readings(100, seed=0):
        adapter.learn_one(x)
    assert not hasattr(template, "calibration_")
    assert adapter.detector_.n_learned_ == 100
    fresh = adapter.clone()
    assert fresh.score_one({"temp": 30.0, "rpm": 1500.0}) == 0.0


def test_adapter_under_a_threshold_filter_does_not_learn_flagged_readings() -> None:
    adapter = as_river(WindowedGaussian(window=50, warmup=20))
    model = anomaly.ThresholdFilter(adapter, threshold=0.5)
    for x in _readings(200, seed=0):
        model.learn_one(x)
    before = adapter.detector_.n_learned_
    spike = {"temp": 20.0, "rpm": 2500.0}
    assert model.classify(model.score_one(spike))
    model.learn_one(spike)
    assert adapter.detector_.n_learned_ == before


def test_adapter_passes_none_as_missing() -> None:
    adapter = as_river(WindowedGaussian(window=50, warmup=20))
    for x in _readings(100, seed=0):
        adapter.learn_one(x)
    assert 0.0 <= adapter.score_one({"temp": None, "rpm": 1500.0}) < 0.5
