"""What every imputer does: flag what it filled, count it, and never touch a present value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgewise.impute import ChangeRegression, Kalman, LastValue, Linear, Regression, Seasonal
from edgewise.stream import Reading, Step

IMPUTERS = [
    LastValue(),
    Linear(max_delay=3),
    Seasonal(period=5),
    Kalman(),
    Regression(),
    ChangeRegression(),
]


def _readings(seed: int = 0, n: int = 300) -> list[Reading]:
    rng = np.random.default_rng(seed)
    level = np.cumsum(rng.normal(0.0, 0.1, n))
    X = np.column_stack([level, 2.0 * level + rng.normal(0.0, 0.05, n)])
    X[rng.random(X.shape) < 0.15] = math.nan
    return [Reading("s", 60.0 * i, {"a": a, "b": b}) for i, (a, b) in enumerate(X.tolist())]


@pytest.mark.parametrize("imputer", IMPUTERS, ids=lambda s: type(s).__name__)
def test_flags_and_counts_what_it_fills(imputer: Step) -> None:
    step = imputer.clone()
    readings = _readings()
    out = [o for r in readings for o in step.update(r)] + step.flush()
    assert [r.timestamp for r in out] == [r.timestamp for r in readings]
    flagged = 0
    for before, after in zip(readings, out, strict=True):
        for name, value in before.values.items():
            if math.isnan(value):
                filled = not math.isnan(after.values[name])
                assert (after.flags.get(name) == "imputed") == filled
                flagged += filled
            else:
                assert after.values[name] == value and name not in after.flags
    missing = sum(math.isnan(v) for r in readings for v in r.values.values())
    assert 0.9 * missing <= flagged <= missing  # all but the leading gaps
    assert step.lane("s").imputed_count_ == flagged  # type: ignore[attr-defined]


@pytest.mark.parametrize("imputer", IMPUTERS, ids=lambda s: type(s).__name__)
def test_declares_its_delay(imputer: Step) -> None:
    assert imputer.delay == (3 if isinstance(imputer, Linear) else 0)  # type: ignore[attr-defined]


@pytest.mark.parametrize("imputer", IMPUTERS[2:], ids=lambda s: type(s).__name__)
def test_rejects_bad_parameters(imputer: Step) -> None:
    name = {
        "Seasonal": "period",
        "Kalman": "halflife",
        "Regression": "halflife",
        "ChangeRegression": "halflife",
    }
    bad = imputer.clone(**{name[type(imputer).__name__]: 0})
    with pytest.raises(ValueError, match=name[type(imputer).__name__]):
        bad.update(Reading("s", 0.0, {"a": 1.0}))
