"""Flatline: stuck runs, flagged from the min_run-th value of the run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgewise.clean import Flatline
from edgewise.stream import Reading


def test_a_stuck_run_is_flagged_from_the_point_it_is_recognised() -> None:
    values = [20.1, 20.3, 20.5, 20.5, 20.5, 20.5, 20.5, 20.5, 20.7, 20.7]
    mask = Flatline(min_run=4).faults_many(np.array(values)[:, None], ["t"])[:, 0]
    # Run 20.5 starts at index 2: index 5 is its 4th value; index 8 breaks it.
    assert np.flatnonzero(mask).tolist() == [5, 6, 7]


def test_tolerance_bounds_the_spread_of_the_whole_run() -> None:
    check = Flatline(min_run=3, tolerance=0.2)
    found = [check.faults_one({"t": v}) for v in [10.0, 10.1, 10.2, 10.3, 10.3, 10.35]]
    # 10.0..10.2 spans 0.2 (a run of 3); 10.3 would span 0.3, so it starts a new run.
    assert [bool(f) for f in found] == [False, False, True, False, False, True]


def test_missing_values_neither_extend_nor_break_a_run() -> None:
    check = Flatline(min_run=3)
    found = [check.faults_one({"t": v}) for v in [5.0, math.nan, 5.0, math.nan, 5.0, 6.0]]
    assert [bool(f) for f in found] == [False, False, False, False, True, False]


def test_mark_missing_replaces_stuck_values_and_flags_them() -> None:
    check = Flatline(min_run=2, action="mark_missing")
    outs = [check.update(Reading("m", float(i), {"t": 3.0, "u": float(i)}))[0] for i in range(3)]
    assert outs[0].flags == {} and outs[1].flags == outs[2].flags == {"t": "stuck"}
    assert math.isnan(outs[2].values["t"]) and outs[2].values["u"] == 2.0


@pytest.mark.parametrize(
    "params", [{"min_run": 1}, {"min_run": 3.0}, {"tolerance": -0.1}, {"action": "clip"}]
)
def test_bad_parameters_raise_at_first_use(params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Flatline"):
        Flatline(**params).learn_one({"t": 1.0})  # type: ignore[arg-type]
