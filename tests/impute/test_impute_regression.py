from __future__ import annotations

import math

import numpy as np

from edgewise.impute import LastValue, Regression


def test_recovers_a_linear_relation_from_the_other_sensors() -> None:
    rng = np.random.default_rng(0)
    a, c, noise = rng.normal(0.0, 1.0, (3, 500))
    b = 2.0 * a - 3.0 * c + 1.0 + 0.01 * noise
    X = np.column_stack([a, b, c])
    X[400:, 1] = math.nan
    out = Regression().learn_transform_many(X, ["a", "b", "c"])
    # b spreads 3.6 around its mean and the last b says nothing: only a and c can give it.
    assert np.mean(np.abs(out[400:, 1] - b[400:])) < 0.02


def test_beats_last_value_on_correlated_random_walks() -> None:
    rng = np.random.default_rng(1)
    level = np.cumsum(rng.normal(0.0, 1.0, 3000))
    X = np.column_stack([level + rng.normal(0, 0.1, 3000), 3.0 * level + rng.normal(0, 0.1, 3000)])
    truth = X.copy()
    gaps = rng.random(X.shape) < 0.1
    X[gaps] = math.nan
    regression = Regression().learn_transform_many(X, ["a", "b"])
    last = LastValue().learn_transform_many(X, ["a", "b"])
    error = np.nanmean(np.abs(regression - truth)[gaps])
    assert error < 0.5 * np.nanmean(np.abs(last - truth)[gaps])


def test_falls_back_to_the_last_value_until_it_has_learned() -> None:
    imputer = Regression()
    imputer.learn_transform_one({"a": 1.0, "b": 2.0})
    assert imputer.learn_transform_one({"a": 5.0, "b": math.nan}) == {"a": 5.0, "b": 2.0}
    assert imputer.imputed_count_ == 1
