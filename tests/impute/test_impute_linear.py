from __future__ import annotations

import math

import numpy as np
import pytest

from edgewise.impute import Linear
from edgewise.stream import Reading


def _run(step: Linear, readings: list[Reading]) -> list[Reading]:
    return [o for r in readings for o in step.update(r)] + step.flush()


def test_exact_on_a_line_with_uneven_times_and_gaps() -> None:
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(1.0, 5.0, 200))
    line = 3.0 - 0.25 * times
    values = line.copy()
    values[rng.random(200) < 0.3] = math.nan
    values[[0, -1]] = line[[0, -1]]
    readings = [Reading("s", t, {"x": v}) for t, v in zip(times, values, strict=True)]
    out = _run(Linear(max_delay=50), readings)
    np.testing.assert_allclose([r.values["x"] for r in out], line, rtol=0, atol=1e-12)


def test_gives_up_after_max_delay_with_the_last_value() -> None:
    values = [1.0, math.nan, math.nan, math.nan, 5.0]
    step = Linear(max_delay=2)
    emitted = [step.update(Reading("s", float(i), {"x": v})) for i, v in enumerate(values)]
    # The first gap waits two readings, then takes the last value; the others see the 5.
    assert [[r.values["x"] for r in e] for e in emitted] == [[1.0], [], [], [1.0], [3.0, 4.0, 5.0]]
    assert step.delay == 2
    assert step.lane("s").imputed_count_ == 3


def test_holds_readings_back_in_order_and_flushes() -> None:
    step = Linear(max_delay=10)
    assert step.update(Reading("s", 0.0, {"x": 0.0, "y": 1.0})) != []
    assert step.update(Reading("s", 1.0, {"x": math.nan, "y": 2.0})) == []
    assert step.update(Reading("s", 2.0, {"x": math.nan, "y": 3.0})) == []
    out = step.flush()
    assert [r.values for r in out] == [{"x": 0.0, "y": 2.0}, {"x": 0.0, "y": 3.0}]
    assert step.flush() == []


def test_no_delay_without_missing_values() -> None:
    step = Linear(max_delay=5)
    for i in range(5):
        assert len(step.update(Reading("s", float(i), {"x": float(i)}))) == 1


@pytest.mark.parametrize("max_delay", [-1, 2.5])
def test_rejects_a_bad_max_delay(max_delay: object) -> None:
    with pytest.raises(ValueError, match="max_delay"):
        Linear(max_delay=max_delay).update(Reading("s", 0.0, {"x": 1.0}))  # type: ignore[arg-type]
