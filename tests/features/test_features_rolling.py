from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from edgewise.features import RollingStats


def test_equals_pandas_rolling_over_present_values() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(0.0, 1.0, (300, 2))
    X[rng.random(X.shape) < 0.2] = math.nan
    X[100:110, 0] = math.nan  # a window with nothing present
    out = RollingStats(window=7, keep_inputs=False).learn_transform_many(X, ["a", "b"])
    frame = pd.DataFrame(X, columns=["a", "b"]).rolling(7, min_periods=1)
    expected = np.column_stack(
        [
            getattr(frame, stat)(**({"ddof": 0} if stat == "std" else {}))[name].to_numpy()
            for name in ["a", "b"]
            for stat in ["mean", "std", "min", "max"]
        ]
    )
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_names_and_kept_inputs() -> None:
    rolling = RollingStats(window=2, stats=("median",))
    assert rolling.learn_transform_one({"x": 1.0}) == {"x": 1.0, "x_median": 1.0}
    assert rolling.learn_transform_one({"x": 2.0}) == {"x": 2.0, "x_median": 1.5}
    assert rolling.learn_transform_one({"x": 6.0}) == {"x": 6.0, "x_median": 4.0}


@pytest.mark.parametrize(
    ("params", "match"), [({"window": 0}, "window"), ({"stats": ("var",)}, "stats")]
)
def test_rejects_bad_parameters(params: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RollingStats(**params).learn_one({"x": 1.0})  # type: ignore[arg-type]
