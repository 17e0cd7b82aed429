"""RangeLimit: physical limits, per name, with each action."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgewise.clean import RangeLimit
from edgewise.stream import Reading


def test_marks_missing_and_flags_out_of_range_values() -> None:
    (out,) = RangeLimit(low=0.0, high=100.0).update(
        Reading("m", 0.0, {"rh": 104.2, "t": 21.5, "p": -3.0, "q": math.nan})
    )
    assert math.isnan(out.values["rh"]) and math.isnan(out.values["p"])
    assert out.values["t"] == 21.5 and math.isnan(out.values["q"])
    assert out.flags == {"rh": "out_of_range", "p": "out_of_range"}


def test_limits_per_name_leave_other_names_unbounded() -> None:
    check = RangeLimit(low={"rh": 0.0}, high={"rh": 100.0})
    assert check.faults_one({"rh": 100.5, "t": 1e6}) == {"rh": "out_of_range"}
    assert check.faults_one({"rh": 100.0, "t": -1e6}) == {}


def test_clip_moves_values_to_the_limit_crossed() -> None:
    check = RangeLimit(low=-40.0, high={"t": 85.0}, action="clip")
    (out,) = check.update(Reading("m", 0.0, {"t": 120.0, "u": -55.0, "v": 3.0}))
    assert out.values == {"t": 85.0, "u": -40.0, "v": 3.0}
    assert out.flags == {"t": "out_of_range", "u": "out_of_range"}


def test_flag_keeps_the_value() -> None:
    (out,) = RangeLimit(high=1.0, action="flag").update(Reading("m", 0.0, {"x": 2.0}))
    assert out.values == {"x": 2.0} and out.flags == {"x": "out_of_range"}


def test_faults_many_is_the_mask_of_faults_one() -> None:
    X = np.array([[0.5, 2.0], [math.nan, -1.0], [1.5, 0.0]])
    mask = RangeLimit(low=0.0, high=1.0).faults_many(X, ["a", "b"])
    assert mask.tolist() == [[False, True], [False, True], [True, False]]


@pytest.mark.parametrize(
    "params",
    [
        {"low": 2.0, "high": 1.0},
        {"low": {"x": 5.0}, "high": {"x": 4.0}},
        {"high": math.nan},
        {"action": "drop"},
    ],
)
def test_bad_parameters_raise_at_first_use(params: dict[str, object]) -> None:
    check = RangeLimit(**params)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="RangeLimit"):
        check.transform_one({"x": 1.0})
