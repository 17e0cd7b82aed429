"""The step contract, pipelines and the registry, on small steps defined here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgewise.stream import (
    Detector,
    Pipeline,
    Reading,
    SpecError,
    Step,
    Transformer,
    Values,
    Verdict,
    create,
    parameters,
    parse_params,
    registry,
)


class Scale(Transformer):
    def __init__(self, *, factor: float = 2.0) -> None:
        self.factor = factor

    def transform_one(self, x: Values) -> Values:
        return {k: v * self.factor for k, v in x.items()}


class Twice(Step):
    """Emits every reading twice, and one reading per tick."""

    def _update(self, reading: Reading) -> list[Reading]:
        return [reading, reading.with_values(dict(reading.values))]

    def _tick(self, now: float) -> list[Reading]:
        return [Reading(self.stream_ or "", now, {"v": 0.0})]


class Hold(Step):
    """Holds everything until flushed."""

    def __init__(self) -> None:
        self.held_: list[Reading] = []

    def _update(self, reading: Reading) -> list[Reading]:
        self.held_.append(reading)
        return []

    def _flush(self) -> list[Reading]:
        out, self.held_ = self.held_, []
        return out


class Threshold(Detector):
    def __init__(self, *, limit: float = 1.0) -> None:
        self.limit = limit
        self.seen_ = 0

    def learn_one(self, x: Values) -> None:
        self.seen_ += 1

    def score_one(self, x: Values) -> float:
        return 1.0 if any(abs(v) > self.limit for v in x.values()) else 0.0

    def detect_one(self, x: Values) -> Verdict:
        score = self.score_one(x)
        if score < 1.0:
            self.learn_one(x)
        return Verdict(score, score >= 1.0, score >= 1.0)


def test_reading_normalises_missing_values() -> None:
    r = Reading("s", 1, {"a": None, "b": 3})
    assert math.isnan(r.values["a"]) and r.values["b"] == 3.0 and r.timestamp == 1.0


def test_transformer_batch_equals_one_by_one() -> None:
    X = np.arange(6.0).reshape(3, 2)
    step = Scale(factor=3.0)
    one = [step.transform_one({"x0": a, "x1": b}) for a, b in X]
    assert np.array_equal(step.transform_many(X), [[r["x0"], r["x1"]] for r in one])


def test_pipeline_passes_emissions_of_each_step_downstream() -> None:
    pipe = Scale(factor=10.0) | Twice() | Scale(factor=0.5)
    out = pipe.update(Reading("s", 0.0, {"v": 1.0}))
    assert [r.values["v"] for r in out] == [5.0, 5.0]
    ticked = pipe.tick(100.0)
    assert [(r.stream, r.values["v"]) for r in ticked] == [("s", 0.0)]


def test_pipeline_flush_runs_held_readings_through_later_steps() -> None:
    pipe = Pipeline(Hold(), Scale(factor=2.0))
    assert pipe.update(Reading("s", 0.0, {"v": 1.0})) == []
    assert [r.values["v"] for r in pipe.flush()] == [2.0]
    [only] = Pipeline(Scale()).run([Reading("s", 0.0, {"v": 1.0})])
    assert only.values == {"v": 2.0}


def test_detector_update_adds_a_detection_record() -> None:
    det = Threshold(limit=1.0)
    [out] = det.update(Reading("s", 7.0, {"v": 5.0}))
    [found] = out.detections
    assert (found.stream, found.seq, found.timestamp) == ("s", 0, 7.0)
    assert found.is_anomaly and found.alarm and found.score == 1.0
    assert found.detector == "Threshold" and len(found.model_version) == 12
    [normal] = det.update(Reading("s", 8.0, {"v": 0.5}))
    assert normal.detections[0].seq == 1 and not normal.detections[0].is_anomaly
    assert det.lane("s").seen_ == 1 and det.clone().seen_ == 0


def test_clone_rejects_unknown_parameters() -> None:
    with pytest.raises(TypeError, match="no parameter"):
        Scale().clone(nope=1)
    assert Scale().clone(factor=5.0).factor == 5.0


def test_parse_params_types_values_from_the_constructor() -> None:
    assert parse_params(Scale, ["factor=1.5"]) == {"factor": 1.5}
    with pytest.raises(SpecError, match="unknown parameter 'size'; it takes: factor"):
        parse_params(Scale, ["size=3"])
    with pytest.raises(SpecError, match="KEY=VALUE"):
        parse_params(Scale, ["factor"])
    with pytest.raises(SpecError, match=r"parameter 'factor': .* number"):
        parse_params(Scale, ["factor=abc"])
    assert [p.name for p in parameters(Scale)] == ["factor"]


def test_registry_names_every_builtin_step() -> None:
    steps = registry()
    assert "default" in steps and "hampel" in steps
    with pytest.raises(KeyError, match="no step named"):
        create("no-such-step")
