"""A check suite that every registered step must pass, generated per step as in River.

``yield_checks(step)`` yields the checks that apply to a step's kind; ``tests/test_checks.py``
runs them over every registered step and every parameter set of its ``_unit_test_params``, with
test ids like ``hampel:check_pickling``. Each check raises ``AssertionError`` on failure.
"""

from __future__ import annotations

import inspect
import math
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .stream import Array, Detector, Reading, Step, Transformer

__all__ = ["anomaly_set", "readings_of", "sample_batch", "yield_checks"]

Check = Callable[[Step], None]
COLUMNS = ("x0", "x1", "x2")
_TOLERANCE = 1e-9


def sample_batch(*, seed: int = 0, n: int = 400, missing: float = 0.0) -> Array:
    """Three correlated random-walk-plus-noise columns; a ``missing`` fraction set to nan."""
    rng = np.random.default_rng(seed)
    level = np.cumsum(rng.normal(0.0, 0.1, n))
    X = np.column_stack(
        [level + rng.normal(0.0, 0.3, n), 2.0 * level + 5.0, -level + rng.normal(0.0, 0.5, n)]
    )
    X[:, 1] += rng.normal(0.0, 0.2, n)
    if missing:
        X[rng.random(X.shape) < missing] = math.nan
    return X


def anomaly_set(
    *, seed: int = 0, n: int = 1200, n_anomalies: int = 12
) -> tuple[Array, NDArray[np.bool_]]:
    """A seeded stream with isolated, clearly abnormal readings after a normal start."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = np.sin(2 * np.pi * t / 50.0)
    X = np.column_stack([base, 0.5 * base + 1.0, -base]) + rng.normal(0.0, 0.1, (n, 3))
    labels = np.zeros(n, dtype=np.bool_)
    where = rng.choice(np.arange(n // 2, n), size=n_anomalies, replace=False)
    labels[where] = True
    X[where] += rng.choice([-1.0, 1.0], size=(n_anomalies, 1)) * rng.uniform(
        2.0, 4.0, (n_anomalies, 3)
    )
    return X, labels


def readings_of(X: Array, *, seed: int = 0) -> list[Reading]:
    """Readings of one stream, roughly a minute apart, with a repeat and a late arrival."""
    rng = np.random.default_rng(seed)
    times = 60.0 * np.arange(len(X)) + rng.uniform(-5.0, 5.0, len(X))
    readings = [
        Reading("s", float(t), dict(zip(COLUMNS, row.tolist(), strict=True)))
        for t, row in zip(times, X, strict=True)
    ]
    if len(readings) > 20:
        readings.insert(10, readings[9].with_values(dict(readings[9].values)))
        readings[15], readings[16] = readings[16], readings[15]
    return readings


def _signature(r: Reading) -> tuple[Any, ...]:
    return (r.stream, r.timestamp, r.values, r.flags, r.score, r.is_anomaly, r.explanation)


def _run(step: Step, X: Array) -> list[Any]:
    """The step's streaming outputs on X, through its batch path, in a comparable form."""
    if isinstance(step, Detector):
        found = step.detect_many(X, list(COLUMNS))
        return [found.scores, found.is_anomaly]
    if isinstance(step, Transformer):
        return [step.learn_transform_many(X, list(COLUMNS))]
    return [_signature(r) for r in step.update_many(readings_of(X))]


def _run_one_by_one(step: Step, X: Array) -> list[Any]:
    if isinstance(step, Detector):
        found = [step.detect_one(dict(zip(COLUMNS, row.tolist(), strict=True))) for row in X]
        return [
            np.array([d.score for d in found]),
            np.array([d.is_anomaly for d in found], dtype=np.bool_),
        ]
    if isinstance(step, Transformer):
        rows = [step.learn_transform_one(dict(zip(COLUMNS, r.tolist(), strict=True))) for r in X]
        keys = list(rows[0]) if rows else []
        return [np.array([[row.get(k, math.nan) for k in keys] for row in rows])]
    return [_signature(out) for r in readings_of(X) for out in step.update(r)]


def _assert_same(a: list[Any], b: list[Any], what: str) -> None:
    assert len(a) == len(b), f"{what}: {len(a)} outputs vs {len(b)}"
    for x, y in zip(a, b, strict=True):
        if isinstance(x, np.ndarray):
            assert x.shape == np.asarray(y).shape, f"{what}: shapes {x.shape} vs {np.shape(y)}"
            if x.dtype == np.bool_:
                assert np.array_equal(x, y), f"{what}: decisions differ"
            else:
                np.testing.assert_allclose(
                    x, y, rtol=0, atol=_TOLERANCE, equal_nan=True, err_msg=what
                )
        else:
            assert _same_value(x, y), f"{what}: {x!r} != {y!r}"


def _same_value(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= _TOLERANCE
    if isinstance(x, tuple | list) and isinstance(y, tuple | list):
        return len(x) == len(y) and all(_same_value(a, b) for a, b in zip(x, y, strict=True))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same_value(x[k], y[k]) for k in x)
    return bool(x == y)


def check_clone(step: Step) -> None:
    """A clone has the same parameters and none of the learned state."""
    X = sample_batch(seed=1)
    fresh = step.clone()
    assert repr(fresh) == repr(step)
    _run(step, X)
    clone = step.clone()
    assert type(clone) is type(step) and clone is not step
    _assert_same(_run(clone, X), _run(fresh, X), "a clone of a fitted step behaves as a new one")


def check_pickling(step: Step) -> None:
    """A step pickled mid-stream resumes exactly where it was."""
    X = sample_batch(seed=2)
    half = len(X) // 2
    _run(step, X[:half])
    restored = pickle.loads(pickle.dumps(step))
    _assert_same(_run(restored, X[half:]), _run(step, X[half:]), "after unpickling")


def check_seeding(step: Step) -> None:
    """Two steps with the same seed give the same outputs."""
    X = sample_batch(seed=3)
    _assert_same(_run(step.clone(), X), _run(step.clone(), X), "same seed")


def check_one_vs_many(step: Step) -> None:
    """The batch path equals the per-reading path."""
    X = sample_batch(seed=4, missing=0.02)
    _assert_same(_run(step.clone(), X), _run_one_by_one(step.clone(), X), "one vs many")


def check_missing_values(step: Step) -> None:
    """Missing values never raise; a detector's scores stay finite and within [0, 1]."""
    X = sample_batch(seed=5, missing=0.2)
    X[50:60] = math.nan
    outputs = _run(step, X)
    if isinstance(step, Detector):
        scores = outputs[0]
        assert np.all(np.isfinite(scores)), "a detector score is not finite"
        assert np.all((scores >= 0.0) & (scores <= 1.0)), "a detector score is outside [0, 1]"


def check_prefix_invariance(step: Step) -> None:
    """Outputs for the first k readings do not change when the input is cut after k."""
    X = sample_batch(seed=6)
    k = len(X) // 3
    whole = _run(step.clone(), X)
    prefix = _run(step.clone(), X[:k])
    if isinstance(step, Detector | Transformer):
        _assert_same(prefix, [part[:k] for part in whole], "prefix")
    else:
        _assert_same(prefix, whole[: len(prefix)], "prefix")


def check_auc(step: Step) -> None:
    """A detector ranks injected anomalies above normal readings (AUC > 0.5)."""
    from sklearn.metrics import roc_auc_score

    assert isinstance(step, Detector)
    X, labels = anomaly_set(seed=7)
    scores = step.clone().detect_many(X, list(COLUMNS)).scores
    auc = float(roc_auc_score(labels[len(X) // 2 :], scores[len(X) // 2 :]))
    assert auc > 0.5, f"AUC {auc:.3f} <= 0.5"


def yield_checks(step: Step) -> Iterator[Check]:
    """The checks that apply to ``step``."""
    yield check_clone
    yield check_pickling
    if "seed" in inspect.signature(type(step).__init__).parameters:
        yield check_seeding
    yield check_one_vs_many
    yield check_missing_values
    yield check_prefix_invariance
    if isinstance(step, Detector):
        yield check_auc
