"""A check suite that every registered step must pass, generated per step as in River.

``yield_checks(step)`` yields the checks that apply to a step's kind; ``tests/test_checks.py``
runs them over every registered step and every parameter set of its ``_unit_test_params`` (and
over a few pipelines), with test ids like ``hampel[0]:check_pickling``. Each check raises
``AssertionError`` on failure.
"""

from __future__ import annotations

import copy
import inspect
import math
import pickle
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .stream import (
    Array,
    Detector,
    Pipeline,
    Reading,
    StateError,
    Step,
    Transformer,
    load_state,
    save_state,
)

__all__ = ["anomaly_set", "interleave", "readings_of", "sample_batch", "yield_checks"]

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


def readings_of(X: Array, *, seed: int = 0, stream: str = "s") -> list[Reading]:
    """Readings of one stream, roughly a minute apart, with a repeat and a late arrival."""
    rng = np.random.default_rng(seed)
    times = 60.0 * np.arange(len(X)) + rng.uniform(-5.0, 5.0, len(X))
    readings = [
        Reading(stream, float(t), dict(zip(COLUMNS, row.tolist(), strict=True)))
        for t, row in zip(times, X, strict=True)
    ]
    if len(readings) > 20:
        readings.insert(10, readings[9].with_values(dict(readings[9].values)))
        readings[15], readings[16] = readings[16], readings[15]
    return readings


def interleave(*streams: list[Reading]) -> list[Reading]:
    """The readings of several streams, taken in turn (streams of unequal length included)."""
    merged: list[Reading] = []
    for i in range(max(map(len, streams), default=0)):
        merged.extend(s[i] for s in streams if i < len(s))
    return merged


def _signature(r: Reading) -> tuple[Any, ...]:
    return (r.stream, r.seq, r.timestamp, r.values, r.flags, r.detections)


def _run(step: Step, X: Array, *, flush: bool = True) -> list[Any]:
    """The step's streaming outputs on X, through its batch path, in a comparable form."""
    if isinstance(step, Detector):
        found = step.detect_many(X, list(COLUMNS))
        return [found.scores, found.is_anomaly, found.alarm]
    if isinstance(step, Transformer):
        return [step.learn_transform_many(X, list(COLUMNS))]
    out = step.update_many(readings_of(X)) + (step.flush() if flush else [])
    return [_signature(r) for r in out]


def _run_one_by_one(step: Step, X: Array) -> list[Any]:
    if isinstance(step, Detector):
        found = [step.detect_one(dict(zip(COLUMNS, row.tolist(), strict=True))) for row in X]
        return [
            np.array([d.score for d in found]),
            np.array([d.is_anomaly for d in found], dtype=np.bool_),
            np.array([d.alarm for d in found], dtype=np.bool_),
        ]
    if isinstance(step, Transformer):
        rows = [step.learn_transform_one(dict(zip(COLUMNS, r.tolist(), strict=True))) for r in X]
        keys = list(rows[0]) if rows else []
        return [np.array([[row.get(k, math.nan) for k in keys] for row in rows])]
    return [_signature(out) for r in readings_of(X) for out in step.update(r)] + [
        _signature(out) for out in step.flush()
    ]


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
    if hasattr(x, "__dataclass_fields__") and type(x) is type(y):
        return all(_same_value(getattr(x, f), getattr(y, f)) for f in x.__dataclass_fields__)
    return bool(x == y)


def _warmup(step: Step) -> int:
    """Readings a step learns from before it judges (its ``warmup`` parameter, if it has one)."""
    steps = step.steps if isinstance(step, Pipeline) else [step]
    return max((int(getattr(s, "warmup", 0) or 0) for s in steps), default=0)


def _readings_out(step: Step, readings: list[Reading]) -> dict[str, list[Any]]:
    """What ``step`` emits per stream for ``readings`` (then a flush), comparable."""
    out: dict[str, list[Any]] = {}
    for r in step.update_many(readings) + step.flush():
        out.setdefault(r.stream, []).append(_signature(r))
    return out


def check_clone(step: Step) -> None:
    """A clone has the same parameters and none of the learned state."""
    X = sample_batch(seed=1)
    fresh = step.clone()
    assert repr(fresh) == repr(step)
    _run(step, X)
    clone = step.clone()
    assert type(clone) is type(step) and clone is not step
    _assert_same(_run(clone, X), _run(fresh, X), "a clone of a fitted step behaves as a new one")


def _mutables(value: Any, found: list[Any]) -> list[Any]:
    """Every array, list, dict, set and deque inside ``value`` (objects' fields included)."""
    if isinstance(value, np.ndarray | list | dict | set | deque):
        found.append(value)
    if isinstance(value, dict):
        for v in value.values():
            _mutables(v, found)
    elif isinstance(value, list | tuple | set | deque):
        for v in value:
            _mutables(v, found)
    elif hasattr(value, "__dict__") or hasattr(type(value), "__slots__"):
        fields = dict(getattr(value, "__dict__", {}))
        for klass in type(value).__mro__:
            for name in getattr(klass, "__slots__", ()):
                if hasattr(value, name) and name not in ("__dict__", "__weakref__"):
                    fields[name] = getattr(value, name)
        if not isinstance(value, np.generic | str | float | int):
            for v in fields.values():
                _mutables(v, found)
    return found


def _assert_share_nothing(a: Step, b: Step, what: str) -> None:
    mine = _mutables(a._learned_state(), [])
    theirs = _mutables(b._learned_state(), [])
    ids = {id(m) for m in mine}
    shared = [t for t in theirs if id(t) in ids]
    assert not shared, f"{what} shares a {type(shared[0]).__name__} with its source"
    arrays = [m for m in mine if isinstance(m, np.ndarray)]
    for t in theirs:
        if isinstance(t, np.ndarray):
            assert not any(np.shares_memory(t, m) for m in arrays), f"{what} shares an array"


def check_no_shared_state(step: Step) -> None:
    """Clones and the lanes of new streams share no array, list or dict with their source."""
    X = sample_batch(seed=1)
    _run(step, X)  # learned state of its own
    if step.spec_error is not None:
        return
    lane = step.lane("another")
    _assert_share_nothing(step, lane, "a new stream's lane")
    _assert_share_nothing(step, step.clone(), "a clone")
    step.update_many(readings_of(X[:50], stream="another"))
    _assert_share_nothing(step, lane, "a lane after learning")


def check_pickling(step: Step) -> None:
    """A step pickled mid-stream resumes exactly where it was."""
    X = sample_batch(seed=2)
    half = len(X) // 2
    _run(step, X[:half])
    restored = pickle.loads(pickle.dumps(step))
    _assert_same(_run(restored, X[half:]), _run(step, X[half:]), "after unpickling")


def check_state_roundtrip(step: Step) -> None:
    """Saved mid-stream in the versioned format (.npz and .json), a step resumes exactly.

    Both the step's own state (the value-level path) and its streams are saved. A step that
    cannot be saved says why in one line.
    """
    X = sample_batch(seed=2)
    half = len(X) // 2
    a, b = readings_of(X, stream="a"), readings_of(X[::-1].copy(), stream="b")
    if step.spec_error is not None:
        step.update_many(interleave(a[:half], b[:half]))
        try:
            save_state(step)
        except StateError as error:
            assert str(error) == step.spec_error
            return
        raise AssertionError("a step with a spec_error saved its state")
    _run(step, X[:half])
    step.update_many(interleave(a[:half], b[:half]))
    rest = interleave(a[half:], b[half:])
    for kind in ("npz", "json"):
        uninterrupted = copy.deepcopy(step)
        restored, _ = load_state(save_state(step, kind=kind))
        assert type(restored) is type(step)
        _assert_same(_run(restored, X[half:]), _run(uninterrupted, X[half:]), f"{kind}: own state")
        assert _same_value(_readings_out(restored, rest), _readings_out(uninterrupted, rest)), (
            f"{kind}: streams differ after loading"
        )


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
    """Outputs for the first k readings do not change when the input is cut after k.

    The cut falls after the step's warm-up, where it judges readings.
    """
    k = max(133, _warmup(step) + 100)
    X = sample_batch(seed=6, n=k + 250)
    whole = _run(step.clone(), X)
    prefix = _run(step.clone(), X[:k])
    if isinstance(step, Detector | Transformer):
        _assert_same(prefix, [part[:k] for part in whole], "prefix")
    else:
        prefix = _run(step.clone(), X[:k], flush=False)
        _assert_same(prefix, _run(step.clone(), X, flush=False)[: len(prefix)], "prefix")


def check_auc(step: Step) -> None:
    """A detector ranks injected anomalies above normal readings (AUC > 0.5)."""
    from sklearn.metrics import roc_auc_score

    assert isinstance(step, Detector)
    X, labels = anomaly_set(seed=7)
    scores = step.clone().detect_many(X, list(COLUMNS)).scores
    auc = float(roc_auc_score(labels[len(X) // 2 :], scores[len(X) // 2 :]))
    assert auc > 0.5, f"AUC {auc:.3f} <= 0.5"


def check_streams_isolated(step: Step) -> None:
    """Three streams interleaved through one step give each stream what it gets alone."""
    X = sample_batch(seed=8, n=max(300, _warmup(step) + 200))
    streams = [
        readings_of(X, seed=1, stream="a"),
        readings_of(X[::-1].copy() * 2.0, seed=2, stream="b"),
        readings_of(X[: len(X) // 2] + 10.0, seed=3, stream="c"),
    ]
    together = _readings_out(step.clone(), interleave(*streams))
    for readings in streams:
        alone = _readings_out(step.clone(), readings)
        name = readings[0].stream
        assert _same_value(together.get(name, []), alone.get(name, [])), (
            f"stream {name!r} differs when interleaved with others"
        )


def check_inputs_come_and_go(step: Step) -> None:
    """A value that appears mid-stream, and one that disappears, are handled without error.

    The stated behaviour of each kind of step holds: a transformer keeps one output row per
    reading, a detector keeps scoring within [0, 1].
    """
    X = sample_batch(seed=9, n=max(300, _warmup(step) + 200))
    third = len(X) // 3
    rows: list[dict[str, float]] = []
    for i, row in enumerate(X.tolist()):
        names = COLUMNS[:2] if i < third else COLUMNS if i < 2 * third else COLUMNS[1:]
        rows.append({n: v for n, v in zip(COLUMNS, row, strict=True) if n in names})
    if isinstance(step, Detector):
        scores = [step.detect_one(x).score for x in rows]
        assert all(0.0 <= s <= 1.0 for s in scores), "a score left [0, 1]"
    elif isinstance(step, Transformer):
        assert len([step.learn_transform_one(x) for x in rows]) == len(rows)
    readings = [Reading("s", 60.0 * i, x) for i, x in enumerate(rows)]
    step.clone().update_many(readings)


def _state_bytes(step: Step) -> bytes:
    return save_state(step, kind="json")


def check_score_is_pure(step: Step) -> None:
    """Scoring (``score_one``, ``transform_one``) leaves the learned state as it was."""
    X = sample_batch(seed=10, n=max(300, _warmup(step) + 100))
    _run(step, X)
    before = _state_bytes(step)
    for row in sample_batch(seed=11, n=50).tolist():
        x = dict(zip(COLUMNS, row, strict=True))
        if isinstance(step, Detector):
            step.score_one(x)
        elif isinstance(step, Transformer):
            step.transform_one(x)
    assert _state_bytes(step) == before, "scoring changed the state"


def stationary_batch(n: int, *, seed: int = 12) -> Array:
    """Three independent white-noise columns: a stream whose statistics never change."""
    return np.random.default_rng(seed).normal(0.0, 1.0, (n, 3))


def check_state_is_bounded(step: Step, *, scale: float = 1.0) -> None:
    """On a stationary stream the saved state stops growing: its median over readings
    50,000-100,000 is at most 1.1x its largest over 5,000-10,000 (``memory_grows`` exempts).
    The median, because a bounded buffer kept for a while after a rare flag (a detector's
    relearn window) may be caught full at one of the late points and not at the early ones.

    ``scale`` shrinks every reading count alike, for steps too slow to run 100,000 readings in a
    quick test run.
    """
    n = round(100_000 * scale)
    X = stationary_batch(n)
    early_points = np.linspace(0.05 * n, 0.1 * n, 6).round().astype(int).tolist()
    late_points = np.linspace(0.5 * n, n, 11).round().astype(int).tolist()
    sizes: dict[int, int] = {}
    done = 0
    for at in early_points + late_points:
        _run_on(step, X[done:at], done)
        done = at
        sizes[at] = len(save_state(step))
    early = max(sizes[k] for k in early_points)
    late = int(np.median([sizes[k] for k in late_points]))
    assert late <= 1.1 * early, f"state grew from {early:,} to {late:,} bytes"


def _run_on(step: Step, X: Array, start: int) -> None:
    if isinstance(step, Detector):
        step.detect_many(X, list(COLUMNS))
    elif isinstance(step, Transformer):
        step.learn_transform_many(X, list(COLUMNS))
    else:
        step.update_many(
            [
                Reading("s", 60.0 * (start + i), dict(zip(COLUMNS, row, strict=True)))
                for i, row in enumerate(X.tolist())
            ]
        )


def _quiet_sensors(seed: int, n: int) -> Array:
    """Three sensors at 20 with noise of spread 0.1: ``x = 20 + N(0, 0.1)``."""
    return 20.0 + np.random.default_rng(seed).normal(0.0, 0.1, (n, 3))


def _abnormal(detector: Detector, X: Array) -> NDArray[np.bool_]:
    return detector.clone().detect_many(X, list(COLUMNS)).is_anomaly


def check_glitch_then_fault(step: Step) -> None:
    """A glitch (one reading of a sensor's error code: 65535, -999 or 1e30) is flagged, and it
    does not blind the detector: a +5 jump (50 spreads) of the same sensor 1,000 readings later
    is still found."""
    assert isinstance(step, Detector)
    start = max(1000, _warmup(step) + 500)
    for code in (65535.0, -999.0, 1e30):
        X = _quiet_sensors(13, start + 1500)
        X[start, 0] = code
        X[start + 1000, 0] += 5.0
        found = _abnormal(step, X)
        assert found[start], f"the error code {code:g} was not flagged"
        assert found[start + 1000], f"after an error code {code:g}, a +5 jump was missed"


def check_no_warmup_artefact(step: Step) -> None:
    """The first reading after the warm-up is flagged only if it is abnormal: never, on ten
    stationary white-noise streams."""
    assert isinstance(step, Detector)
    first = _warmup(step)
    for seed in range(10):
        X = np.random.default_rng(seed).normal(0.0, 1.0, (first + 5, 3))
        assert not _abnormal(step, X)[first], f"seed {seed}: the first judged reading is flagged"


def check_second_fault(step: Step) -> None:
    """A second, different fault just after a first one is found (no blind rest after an
    alarm): a spike of one sensor, then the same sensor, or another one, jumps six readings
    later; a fault of another sensor raises an alarm of its own."""
    assert isinstance(step, Detector)
    at = max(1500, _warmup(step) + 500)
    for second in (0, 1):
        X = _quiet_sensors(14, at + 100)
        X[at, 0] += 2.0
        X[at + 6 :, second] += 5.0
        found = step.clone().detect_many(X, list(COLUMNS))
        assert found.is_anomaly[at] and found.alarm[at], "the first fault was not reported"
        assert found.is_anomaly[at + 6], f"a jump of sensor {second} six readings later was missed"
        if second:
            assert found.alarm[at + 6], "a fault of another sensor raised no alarm of its own"


def check_constant_signal(step: Step) -> None:
    """Sensors that never change raise nothing."""
    assert isinstance(step, Detector)
    X = np.full((max(1000, _warmup(step) + 500), 3), 5.0)
    assert not _abnormal(step, X).any(), "a constant signal was flagged"


def yield_checks(step: Step, *, slow: bool = False) -> Iterator[Check]:
    """The checks that apply to ``step``; ``slow`` adds the 100,000-reading state-size check."""
    yield check_clone
    yield check_no_shared_state
    yield check_pickling
    yield check_state_roundtrip
    if "seed" in inspect.signature(type(step).__init__).parameters:
        yield check_seeding
    yield check_one_vs_many
    yield check_missing_values
    yield check_prefix_invariance
    yield check_streams_isolated
    yield check_inputs_come_and_go
    if step.spec_error is None:
        yield check_score_is_pure
        if slow and not getattr(step, "memory_grows", False):
            yield check_state_is_bounded
    if isinstance(step, Detector):
        yield check_auc
        yield check_glitch_then_fault
        yield check_no_warmup_artefact
        yield check_second_fault
        yield check_constant_signal
