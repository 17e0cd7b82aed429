from __future__ import annotations

import math

import numpy as np

from edgewise.impute import LastValue, Seasonal


def test_exact_on_a_repeating_season() -> None:
    profile = np.array([0.0, 3.0, 5.0, 4.0, 1.0, -2.0])
    X = np.tile(profile, 20)[:, None].copy()
    truth = X.copy()
    X[40::7] = math.nan
    out = Seasonal(period=6).learn_transform_many(X, ["x"])
    np.testing.assert_allclose(out, truth, atol=1e-12)


def test_beats_last_value_on_a_daily_cycle_with_a_drift() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(24 * 60)
    x = 10 * np.sin(2 * np.pi * t / 24) + np.cumsum(rng.normal(0, 0.3, t.size))
    X = x[:, None].copy()
    gaps = rng.random(t.size) < 0.1
    X[gaps] = math.nan
    seasonal = Seasonal(period=24).learn_transform_many(X, ["x"])[gaps, 0]
    last = LastValue().learn_transform_many(X, ["x"])[gaps, 0]
    assert np.nanmean(np.abs(seasonal - x[gaps])) < 0.5 * np.nanmean(np.abs(last - x[gaps]))


def test_falls_back_to_the_last_value_before_the_profile_exists() -> None:
    imputer = Seasonal(period=4)
    imputer.learn_transform_one({"x": 2.0})
    assert imputer.learn_transform_one({"x": math.nan}) == {"x": 2.0}


def test_without_a_season_it_learns_to_keep_the_last_value() -> None:
    rng = np.random.default_rng(2)
    x = np.cumsum(rng.normal(0, 1.0, 24 * 100))
    X = x[:, None].copy()
    gaps = rng.random(x.size) < 0.1
    X[gaps] = math.nan
    imputer = Seasonal(period=24)
    seasonal = imputer.learn_transform_many(X, ["x"])[gaps, 0]
    last = LastValue().learn_transform_many(X, ["x"])[gaps, 0]
    # The profile's changes are noise here: their learned gain shrinks them towards nothing.
    gain = imputer.fit_["x"][0] / imputer.fit_["x"][1]
    assert abs(gain) < 0.3
    assert np.nanmean(np.abs(seasonal - x[gaps])) < 1.02 * np.nanmean(np.abs(last - x[gaps]))
