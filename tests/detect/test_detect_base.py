"""CalibratedDetector: warmup, gating, missing values, validation and re-baselining."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from edgewise.detect import CUSUM, OnlineKMeans, StreamingIsolationForest, WindowedGaussian
from edgewise.stream import Explanation, Verdict, save_state


def _normal(n: int, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [{"a": float(a), "b": float(b)} for a, b in rng.normal(0.0, 1.0, (n, 2))]


def test_commissioning_completes_the_warmup() -> None:
    detector = WindowedGaussian(warmup=100)
    detector.commission(np.random.default_rng(0).normal(size=(150, 2)), ["a", "b"])
    assert detector.n_learned_ == 150
    found = detector.detect_one({"a": 0.0, "b": 12.0})
    assert found.is_anomaly and found.explanation is not None
    assert found.explanation.input == "b"


def test_score_one_changes_nothing() -> None:
    detector = WindowedGaussian()
    for x in _normal(200):
        detector.detect_one(x)
    before = save_state(detector, kind="json")
    assert detector.score_one({"a": 0.0, "b": 9.0}) >= 0.5
    assert save_state(detector, kind="json") == before


def test_a_fresh_detector_scores_zero() -> None:
    assert WindowedGaussian().score_one({"a": 5.0}) == 0.0


def test_flagged_readings_are_not_learned_unless_asked() -> None:
    for learn_anomalies, learned in [(False, 0), (True, 1)]:
        detector = WindowedGaussian(learn_anomalies=learn_anomalies)
        for x in _normal(200):
            detector.detect_one(x)
        before = detector.n_learned_
        assert detector.detect_one({"a": 0.0, "b": 15.0}).is_anomaly
        assert detector.n_learned_ == before + learned


def test_a_reading_with_nothing_in_it_is_ignored() -> None:
    detector = OnlineKMeans(seed=1)
    for x in _normal(200):
        detector.detect_one(x)
    before = save_state(detector, kind="json")
    assert detector.detect_one({"a": math.nan, "b": math.nan}) == Verdict(0.0, False)
    assert detector.detect_one({}) == Verdict(0.0, False)
    assert save_state(detector, kind="json") == before


def test_per_input_models_skip_missing_inputs_and_grow_new_ones() -> None:
    detector = WindowedGaussian(window=50)
    for x in _normal(100):
        detector.detect_one(x)
    a_before = list(detector.models_["a"].moments.values)  # type: ignore[attr-defined]
    detector.detect_one({"a": math.nan, "b": 0.1, "c": 3.0})
    assert list(detector.models_["a"].moments.values) == a_before  # type: ignore[attr-defined]
    assert list(detector.models_) == ["a", "b", "c"]


def test_joint_models_impute_missing_inputs_with_their_running_mean() -> None:
    detector = StreamingIsolationForest(seed=0)
    for x in _normal(200, seed=1):
        detector.detect_one({k: v + 10.0 for k, v in x.items()})
    v, observed = detector._vector({"a": math.nan, "b": 10.5})
    assert observed.tolist() == [False, True]
    assert v[0] == pytest.approx(detector.moments_[0].mean) and 9.5 < v[0] < 10.5
    assert v[1] == 10.5


def test_explanations_are_in_spreads_of_the_input() -> None:
    detector = WindowedGaussian(window=100)
    rng = np.random.default_rng(0)
    for a, b in rng.normal([0.0, 100.0], [1.0, 10.0], (300, 2)):
        detector.detect_one({"a": float(a), "b": float(b)})
    found = detector.detect_one({"a": -8.0, "b": 100.0})
    assert isinstance(found.explanation, Explanation)
    assert found.explanation.input == "a"
    assert -9.0 < found.explanation.deviation < -7.0
    assert "below normal" in str(found.explanation)


def test_relearning_starts_from_the_flagged_readings() -> None:
    detector = CUSUM(relearn_after=30, warmup=20)
    for x in _normal(300):
        detector.detect_one(x)
    for x in _normal(27, seed=1):  # 90% of 30
        assert detector.detect_one({"a": x["a"], "b": x["b"] + 50.0}).is_anomaly
    assert detector.n_relearns_ == 1
    assert detector.n_learned_ == 27 and not detector.recent_
    assert detector.models_["b"].baseline.mean > 45.0  # type: ignore[attr-defined]
    assert not detector.detect_one({"a": 0.0, "b": 50.0}).is_anomaly


def test_no_relearning_when_disabled() -> None:
    detector = WindowedGaussian(relearn_after=None)
    for x in _normal(200):
        detector.detect_one(x)
    flags = [detector.detect_one({"a": 0.0, "b": 30.0}).is_anomaly for _ in range(500)]
    assert all(flags) and detector.n_relearns_ == 0 and not detector.recent_


def test_an_intermittently_flagged_shift_is_relearned() -> None:
    """Flags interrupted by a normal reading every tenth still re-baseline, at the 90% share."""
    detector = WindowedGaussian(relearn_after=50)
    for x in _normal(300):
        detector.detect_one(x)
    shifted = _normal(200, seed=1)
    for i, x in enumerate(shifted):
        if i % 10 != 9:
            x["b"] += 50.0
        detector.detect_one(x)
        if detector.n_relearns_:
            break
    assert detector.n_relearns_ == 1 and i + 1 <= 50  # 45 flags among the last 50 readings
    relearned = detector.models_["b"]  # type: ignore[attr-defined]
    assert relearned.moments.mean > 40.0


def test_a_normal_stream_keeps_no_readings() -> None:
    detector = WindowedGaussian(relearn_after=50)
    for x in _normal(300):
        detector.detect_one(x)
    detector.detect_one({"a": 0.0, "b": 50.0})
    assert len(detector.recent_) == 1 and detector.n_recent_flags_ == 1
    for x in _normal(60, seed=1):
        detector.detect_one(x)
    assert not detector.recent_ and detector.n_recent_flags_ == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"warmup": -1}, "warmup"),
        ({"epsilon": 0.5}, "epsilon"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"calibration_window": 1}, "calibration_window"),
        ({"relearn_after": 0}, "relearn_after"),
        ({"window": 1}, "window"),
    ],
)
def test_parameters_are_validated_at_the_first_reading(
    params: dict[str, Any], message: str
) -> None:
    detector = WindowedGaussian(**params)  # constructing never fails
    with pytest.raises(ValueError, match=message):
        detector.detect_one({"a": 1.0})
