"""Pipeline specs: data in, the same data out; errors that name the step and the parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgewise.clean import Hampel, RangeLimit
from edgewise.detect import DefaultDetector
from edgewise.features import RollingStats
from edgewise.stream import Pipeline, SpecError, param_model, parse_params, registry

SPEC: dict[str, Any] = {
    "version": 1,
    "steps": [
        {"step": "range_limit", "params": {"low": {"temp": -40.0}, "high": 125.0}},
        {"step": "hampel", "params": {}},
        {"step": "rolling_stats", "params": {"window": 5, "stats": ["mean", "max"]}},
        {"step": "default", "params": {"threshold": 0.6}},
    ],
}


def test_from_spec_then_to_spec_gives_the_spec_back() -> None:
    pipe = Pipeline.from_spec(SPEC)
    assert [type(s) for s in pipe.steps] == [RangeLimit, Hampel, RollingStats, DefaultDetector]
    assert pipe.to_spec() == SPEC


def test_the_python_api_and_the_spec_build_the_same_pipeline() -> None:
    pipe = Pipeline(
        RangeLimit(low={"temp": -40.0}, high=125.0),
        Hampel(),
        RollingStats(window=5, stats=("mean", "max")),
        DefaultDetector(threshold=0.6),
    )
    assert pipe.to_spec() == SPEC
    assert repr(Pipeline.from_spec(pipe.to_spec())) == repr(Pipeline.from_spec(SPEC))


def test_every_registered_step_round_trips_through_its_spec() -> None:
    for name, cls in registry().items():
        if cls.spec_error is not None:
            continue
        for params in cls._unit_test_params():
            spec = {"version": 1, "steps": [cls(**params).to_spec()]}
            assert spec["steps"][0]["step"] == name
            assert Pipeline.from_spec(spec).to_spec() == spec, name


def test_a_yaml_file_is_a_spec(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "version: 1\n"
        "steps:\n"
        "  - step: range_limit\n"
        "    params: {low: {temp: -40.0}, high: 125.0}\n"
        "  - step: hampel\n"
        "  - step: rolling_stats\n"
        "    params:\n"
        "      window: 5\n"
        "      stats: [mean, max]\n"
        "  - step: default\n"
        "    params: {threshold: 0.6}\n"
    )
    assert Pipeline.from_spec(path).to_spec() == SPEC


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [{"step": "hampel", "params": {"windw": 3}}],
            "step 1 (hampel): unknown parameter 'windw'",
        ),
        (
            [{"step": "hampel"}, {"step": "default", "params": {"warmup": "soon"}}],
            "step 2 (default): parameter 'warmup': Input should be a valid integer",
        ),
        ([{"step": "no_such"}], "step 1: no step named 'no_such'; known:"),
        ([{"step": "fusion"}], "step 1: no step named 'fusion'"),
        (
            [{"step": "inverse_variance_fusion"}],
            "step 1 (inverse_variance_fusion): parameter 'inputs' is required",
        ),
        (
            [{"step": "hampel", "params": {"window": 1}}],
            "step 1 (hampel): ",
        ),
        ([], "pipeline spec: steps: List should have at least 1 item"),
        ([{"stp": "hampel"}], "pipeline spec: steps 0 step: Field required"),
        (
            [{"step": "river", "params": {"model": "HalfSpaceTrees"}}],
            "step 1 (river): the 'river' detector wraps a River model object",
        ),
    ],
)
def test_errors_name_the_step_and_the_parameter(steps: list[Any], message: str) -> None:
    with pytest.raises(SpecError) as error:
        Pipeline.from_spec({"version": 1, "steps": steps}).update_many([])
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_spec_of_another_version_is_refused() -> None:
    with pytest.raises(SpecError, match="version: Input should be 1"):
        Pipeline.from_spec({"version": 2, "steps": [{"step": "hampel"}]})


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nsteps:\n  - step: hampel\n    params: {window: [\n")
    with pytest.raises(SpecError, match=r"bad.yaml:\d+:\d+: not valid YAML or JSON"):
        Pipeline.from_spec(path)


def test_command_line_values_are_read_as_yaml_and_checked() -> None:
    from edgewise.detect import OnlineKMeans, PyODDetector

    assert parse_params(OnlineKMeans, ["seed=null"]) == {"seed": None}
    assert parse_params(RollingStats, ["stats=[mean, std]"]) == {"stats": ["mean", "std"]}
    assert parse_params(RangeLimit, ["low={temp: -40}"]) == {"low": {"temp": -40.0}}
    assert parse_params(PyODDetector, ["model=yes"]) == {"model": "yes"}  # text stays text
    with pytest.raises(SpecError, match="parameter 'seed': Input should be a valid integer"):
        parse_params(OnlineKMeans, ["seed=abc"])


def test_every_step_has_a_spec_schema() -> None:
    for name, cls in registry().items():
        if cls.spec_error is None:
            schema = param_model(cls).model_json_schema()
            assert schema["type"] == "object", name
