from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from edgewise.impute import ChangeRegression, LastValue
from edgewise.stream import Array

NAN = math.nan


def _walks(seed: int, n: int = 3000) -> Array:
    """Two noisy views of one random walk, and a third series of independent noise."""
    rng = np.random.default_rng(seed)
    level = np.cumsum(rng.normal(0.0, 1.0, n))
    return np.column_stack(
        [
            level + rng.normal(0.0, 0.1, n),
            3.0 * level + 10.0 + rng.normal(0.0, 0.1, n),
            rng.normal(0.0, 1.0, n),
        ]
    )


def test_follows_a_correlated_sensor_through_a_long_gap() -> None:
    truth = _walks(0)
    X = truth.copy()
    X[2000:2040, 1] = NAN
    out = ChangeRegression().learn_transform_many(X, ["a", "b", "c"])
    last = LastValue().learn_transform_many(X, ["a", "b", "c"])
    error = np.abs(out[2000:2040, 1] - truth[2000:2040, 1])
    # b moves 3x as far as a; the last value falls behind by the whole walk of the gap.
    assert np.mean(error) < 0.1 * np.mean(np.abs(last[2000:2040, 1] - truth[2000:2040, 1]))
    assert np.max(error) < 2.0


def test_beats_last_value_on_random_cells() -> None:
    rng = np.random.default_rng(1)
    truth = _walks(1)
    gaps = rng.random(truth.shape) < 0.1
    X = np.where(gaps, NAN, truth)
    imputer = ChangeRegression()
    out = imputer.learn_transform_many(X, ["a", "b", "c"])
    last = LastValue().learn_transform_many(X, ["a", "b", "c"])
    assert not np.isnan(out[100:]).any()
    assert np.mean(np.abs(out - truth)[gaps]) < 0.5 * np.mean(np.abs(last - truth)[gaps])
    assert imputer.gains_[:2].tolist() == [1.0, 1.0]


def test_a_value_nothing_predicts_is_shrunk_to_its_last_value() -> None:
    rng = np.random.default_rng(2)
    truth = np.cumsum(rng.normal(0.0, 1.0, (4000, 2)), axis=0)  # two independent walks
    gaps = rng.random(truth.shape) < 0.1
    X = np.where(gaps, NAN, truth)
    imputer = ChangeRegression()
    out = imputer.learn_transform_many(X, ["a", "b"])
    last = LastValue().learn_transform_many(X, ["a", "b"])
    # The regression's predicted changes are noise here; their gains shrink them away.
    assert np.all(imputer.gains_ <= 0.3)
    later = gaps & (np.arange(4000) >= 1000)[:, None]
    error = np.mean(np.abs(out - truth)[later])
    assert error < 1.005 * np.mean(np.abs(last - truth)[later])


def test_one_absurd_reading_does_not_set_the_regression() -> None:
    truth = _walks(3)
    X = truth.copy()
    X[1500, :2] += [1000.0, -1000.0]  # a and b jump apart, once
    X[1600:1620, 1] = NAN
    errors = {}
    for huber in (1.0, 1e9):  # 1e9: every reading counts fully up to 10 standard deviations
        out = ChangeRegression(huber=huber).learn_transform_many(X, ["a", "b", "c"])
        errors[huber] = np.mean(np.abs(out[1600:1620, 1] - truth[1600:1620, 1]))
    last = LastValue().learn_transform_many(X, ["a", "b", "c"])
    last_error = np.mean(np.abs(last[1600:1620, 1] - truth[1600:1620, 1]))
    assert errors[1.0] < 0.3 * last_error
    assert errors[1e9] > last_error  # without down-weighting the jump, b is filled backwards


def test_falls_back_to_the_last_value_until_it_has_learned() -> None:
    imputer = ChangeRegression()
    imputer.learn_transform_one({"a": 1.0, "b": 2.0})
    assert imputer.learn_transform_one({"a": 5.0, "b": NAN}) == {"a": 5.0, "b": 2.0}
    y = imputer.learn_transform_one({"a": NAN, "b": NAN, "c": NAN})
    assert (y["a"], y["b"]) == (5.0, 2.0)
    assert math.isnan(y["c"])  # never seen: nothing to fill it with
    assert imputer.imputed_count_ == 3


def test_values_may_appear_and_are_forgotten_once_gone_for_long() -> None:
    X = _walks(4, n=2400)
    imputer = ChangeRegression(halflife=50.0)
    for t, (a, b, c) in enumerate(X.tolist()):
        x = {"a": a, "c": c} if t < 1000 else {"a": a, "b": b}
        if t >= 300:
            x["b"] = b
        imputer.learn_transform_one(x)
        if t == 999:
            assert imputer.names_ == ["a", "c", "b"]
            assert imputer.cov_.shape == (9, 9)
    # c has been absent for 1,400 readings, more than 10 half-lives: it is gone.
    assert imputer.names_ == ["a", "b"]
    assert imputer.cov_.shape == (6, 6)
    y = imputer.learn_transform_one({"a": X[-1, 0] + 5.0, "b": NAN})
    assert y["b"] == pytest.approx(X[-1, 1] + 15.0, abs=1.5)


def test_predicting_does_not_learn_and_state_pickles() -> None:
    X = _walks(5, n=600)
    imputer = ChangeRegression()
    imputer.learn_many(X, ["a", "b", "c"])
    before = pickle.dumps(imputer)
    first = imputer.transform_one({"a": 1.0, "b": NAN, "c": 0.0})
    assert pickle.dumps(imputer) == before
    assert imputer.transform_one({"a": 1.0, "b": NAN, "c": 0.0}) == first
    again = pickle.loads(before)
    assert again.learn_transform_one({"a": 1.0, "b": NAN, "c": 0.0}) == first


def test_same_stream_same_outputs() -> None:
    X = _walks(6, n=800)
    X[np.random.default_rng(6).random(X.shape) < 0.2] = NAN
    runs = [ChangeRegression().learn_transform_many(X, ["a", "b", "c"]) for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_a_first_event_after_long_zeros_does_not_throw_the_fills() -> None:
    # A rain gauge reads 0 for 800 readings, then rains for three. Its learned spread is a few
    # readings wide, so a regression on it extrapolates: without the bound on how far a fill may
    # move (10 standard deviations of the value's changes), one fill here lands 294 of them out.
    rng = np.random.default_rng(6)
    n = 1000
    level = np.cumsum(rng.normal(0.0, 1.0, n))
    truth = np.column_stack(
        [
            level + rng.normal(0.0, 0.5, n),
            2.0 * level + rng.normal(0.0, 0.5, n),
            np.cumsum(rng.normal(0.0, 1.0, n)),
            np.zeros(n),
        ]
    )
    truth[800:803, 3] = rng.exponential(3.0, 3)
    gaps = rng.random(truth.shape) < 0.15
    out = ChangeRegression().learn_transform_many(np.where(gaps, NAN, truth), list("abcr"))
    step = np.std(np.diff(truth[:800, :3], axis=0), axis=0)
    error = np.abs(out[795:, :3] - truth[795:, :3]) / step
    assert np.max(error[gaps[795:, :3]]) < 20.0
