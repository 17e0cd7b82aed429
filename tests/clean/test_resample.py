"""Resample: irregular readings onto an exact grid, linear or last value; nan stays nan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgewise.clean import Resample
from edgewise.stream import Reading


def _irregular(seed: int = 0, n: int = 200) -> list[Reading]:
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(5.0, 200.0, n)) + 1_700_000_003.7
    return [Reading("m", float(t), {"x": float(t) / 1000.0}) for t in times]


def test_grid_times_are_exact_multiples_of_the_period_with_none_missed() -> None:
    readings = _irregular()
    out = Resample(period=60.0).update_many(readings)
    times = [r.timestamp for r in out]
    first = math.ceil(readings[0].timestamp / 60.0)
    assert times == [60.0 * k for k in range(first, first + len(times))]
    assert times[-1] <= readings[-1].timestamp < times[-1] + 60.0


def test_linear_reproduces_a_linear_signal() -> None:
    out = Resample(period=60.0).update_many(_irregular(seed=1))
    assert max(abs(r.values["x"] - r.timestamp / 1000.0) for r in out) < 1e-9


def test_last_holds_the_value_of_the_last_reading_at_or_before_the_grid_time() -> None:
    step = Resample(period=10.0, method="last")
    batch = [Reading("m", t, {"x": v}) for t, v in [(3.0, 1.0), (20.0, 2.0), (47.0, 3.0)]]
    out = step.update_many(batch)
    assert [(r.timestamp, r.values["x"]) for r in out] == [
        (10.0, 1.0),
        (20.0, 2.0),
        (30.0, 2.0),
        (40.0, 2.0),
    ]


def test_missing_values_stay_missing_and_each_stream_has_its_own_grid() -> None:
    step = Resample(period=10.0)
    batch = [
        Reading("a", 0.0, {"x": 0.0, "y": 1.0}),
        Reading("b", 5.0, {"x": 7.0}),
        Reading("a", 20.0, {"x": 2.0, "y": math.nan}),
        Reading("b", 15.0, {"x": 8.0}),
    ]
    out = [(r.stream, r.timestamp, r.values) for r in step.update_many(batch)]
    assert out[0] == ("a", 0.0, {"x": 0.0, "y": 1.0})
    assert out[1][:2] == ("a", 10.0) and out[1][2]["x"] == 1.0 and math.isnan(out[1][2]["y"])
    assert out[3] == ("b", 10.0, {"x": 7.5})
    assert len(out) == 4


def test_readings_not_later_than_the_previous_one_are_skipped_and_counted() -> None:
    step = Resample(period=10.0)
    batch = [Reading("a", t, {"x": 1.0}) for t in (0.0, 25.0, 25.0, 12.0, 31.0)]
    assert [r.timestamp for r in step.update_many(batch)] == [0.0, 10.0, 20.0, 30.0]
    assert step.lane("a").skipped_count_ == 2


@pytest.mark.parametrize("params", [{"period": 0.0}, {"method": "cubic"}])
def test_bad_parameters_raise_at_first_use(params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Resample"):
        Resample(**params).update(Reading("a", 0.0, {}))  # type: ignore[arg-type]
