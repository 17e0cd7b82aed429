"""ProcessMonitor: its contract, and its defaults on seeded proxies of data we do not have.

The proxies stand in for two held-out benchmarks: a pump/valve test rig (8 correlated sensors,
runs of 1,000 rows, the first 400 known normal, one anomaly lasting minutes per run, scored by
per-row F1 against a per-input z-score) and run-to-failure bearing tests (4 vibration features,
the first 20% known normal; the healthy first half must stay quiet and the alarm come about as
early as a z-score's).
"""

from __future__ import annotations

import copy
import io
import itertools
import math
from collections.abc import Iterator

import numpy as np
import pytest

from edgewise.detect import ProcessMonitor


def _ar1(rng: np.random.Generator, n: int, phi: float, k: int = 1) -> np.ndarray:
    """``k`` unit-variance AR(1) series."""
    noise = rng.normal(size=(n, k))
    x = np.empty((n, k))
    x[0] = noise[0] / math.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + noise[t]
    return x * math.sqrt(1 - phi**2)


def _correlated(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Six sensors driven by two slow latent states, two vibration sensors, one slow wander."""
    states = np.hstack([_ar1(rng, n, 0.98), _ar1(rng, n, 0.9)])
    loads = np.array(
        [[1, 0], [0.9, 0.3], [0.7, -0.5], [0.2, 1], [0.5, 0.5], [-0.8, 0.4], [0, 0], [0, 0]]
    )
    noise = np.array([0.2, 0.2, 0.3, 0.3, 0.25, 0.3, 1.0, 1.0])
    X = states @ loads.T + noise * rng.normal(size=(n, 8))
    X[:, 6] += np.cumsum(rng.normal(scale=0.02, size=n))  # a slowly wandering temperature
    return X, loads, noise


def rig_run(seed: int, kind: str, n: int = 1000, reference: int = 400) -> tuple[np.ndarray, ...]:
    """One rig run with one anomaly of ``kind``; returns the rows and the per-row labels."""
    rng = np.random.default_rng(seed)
    X, loads, noise = _correlated(rng, n)
    X = X * rng.uniform(1, 10, 8) + rng.uniform(-50, 50, 8)  # units and offsets of real sensors
    spread = X[:reference].std(axis=0)
    start = int(rng.integers(reference + 50, n - 250))
    anomaly = slice(start, start + int(rng.integers(60, 200)))
    labels = np.zeros(n, dtype=bool)
    labels[anomaly] = True
    length = int(labels.sum())
    j = int(rng.integers(0, 6))
    if kind == "break":  # off the others by 4 of its own noise: inside its normal range
        share = noise[j] / math.sqrt(loads[j] @ loads[j] + noise[j] ** 2)
        X[anomaly, j] += 4.0 * share * spread[j] * rng.choice([-1.0, 1.0])
    elif kind == "shift":
        for i in rng.choice(6, 3, replace=False):
            X[anomaly, i] += 1.5 * spread[i]
    elif kind == "variance":
        X[anomaly, 6:] += 2.0 * spread[6:] * rng.normal(size=(length, 2))
    elif kind == "stuck":
        X[anomaly, j] = X[start - 1, j]
    elif kind == "drift":
        X[anomaly, j] += np.linspace(0, 3, length) * spread[j]
    return X, labels


def bearing_run(seed: int, n: int = 1000, channels: int = 4) -> tuple[np.ndarray, int]:
    """Four RMS-like features with a slow common wander; two grow from a late onset."""
    rng = np.random.default_rng(seed)
    onset = int(rng.integers(int(0.65 * n), int(0.85 * n)))
    wander = 0.5 * _ar1(rng, n, 0.995)
    X = 1.0 + 0.1 * (wander + _ar1(rng, n, 0.5, channels))
    t = np.arange(n)
    growth = np.where(t > onset, np.expm1((t - onset) / (0.08 * n)), 0.0)[:, None]
    X[:, :2] *= 1 + 0.2 * growth * rng.uniform(0.5, 1.5, 2)
    X[:, :2] += 0.05 * growth * rng.normal(size=(n, 2))
    return X, onset


def _f1(flags: np.ndarray, labels: np.ndarray) -> float:
    tp = np.sum(flags & labels)
    return float(2 * tp / max(2 * tp + np.sum(flags != labels), 1))


def _zscore(X: np.ndarray, reference: int, threshold: float) -> np.ndarray:
    """The five-line baseline: any input's |z| against the known-normal rows above a threshold."""
    mean, std = X[:reference].mean(axis=0), X[:reference].std(axis=0, ddof=1)
    flags: np.ndarray = (np.abs((X - mean) / std) > threshold).any(axis=1)
    return flags


def _stream(monitor: ProcessMonitor, X: np.ndarray) -> Iterator[tuple[float, bool, np.ndarray]]:
    for x in X:
        yield monitor.step(x)


def _abnormal(X: np.ndarray, reference: int, **params: float) -> np.ndarray:
    monitor = ProcessMonitor(**params).fit(X[:reference])  # type: ignore[arg-type]
    return np.array([abnormal for _, abnormal, _ in _stream(monitor, X[reference:])])


@pytest.fixture(scope="module")
def normal() -> np.ndarray:
    """A stationary process of the rig's shape, so that 500 rows represent it."""
    rng = np.random.default_rng(7)
    states = np.hstack([_ar1(rng, 1500, 0.9), _ar1(rng, 1500, 0.7)])
    X, loads, noise = _correlated(rng, 1500)
    X = states @ loads.T + noise * rng.normal(size=X.shape)
    return X


@pytest.fixture(scope="module")
def fitted(normal: np.ndarray) -> ProcessMonitor:
    return ProcessMonitor().fit(normal[:500])


def _state(monitor: ProcessMonitor) -> dict[str, object]:
    return {k: copy.deepcopy(v) for k, v in vars(monitor).items() if k.endswith("_")}


# --- the contract ------------------------------------------------------------------------------


def test_normal_data_stay_quiet_and_scores_match_decisions(
    fitted: ProcessMonitor, normal: np.ndarray
) -> None:
    monitor = copy.deepcopy(fitted)
    out = list(_stream(monitor, normal[500:]))
    scores = np.array([s for s, _, _ in out])
    flags = np.array([a for _, a, _ in out])
    assert np.all((scores >= 0.0) & (scores < 1.0))
    assert np.array_equal(flags, scores > 0.5)
    assert flags.mean() <= 0.01
    assert all(c.shape == (8,) and np.all(c >= 0.0) for _, _, c in out)


def test_score_ranks_without_saturating(fitted: ProcessMonitor, normal: np.ndarray) -> None:
    finals = []
    # Up to the clip of one reading's deviation (20 reference spreads).
    for size in (2.0, 4.0, 8.0, 16.0):
        monitor = copy.deepcopy(fitted)
        shifted = normal[500:560].copy()
        shifted[:, 3] += size * normal[:500, 3].std()
        finals.append(list(_stream(monitor, shifted))[-1][0])
    ratios = [s / (1.0 - s) for s in finals]
    assert all(a < b for a, b in itertools.pairwise(ratios))
    assert finals[-1] < 1.0
    assert ratios[-1] > 2.0 * ratios[-2]  # still growing with the shift, not stuck near 1


def test_one_glitch_cannot_hold_the_views_up(fitted: ProcessMonitor, normal: np.ndarray) -> None:
    monitor = copy.deepcopy(fitted)
    rows = normal[500:700].copy()
    rows[10, 3] = 1e30  # a sensor's error code
    abnormal = [s > 0.5 for s, _, _ in _stream(monitor, rows)]
    assert abnormal[10] and not any(abnormal[60:])


def test_score_is_pure_and_equals_the_step(fitted: ProcessMonitor, normal: np.ndarray) -> None:
    monitor = copy.deepcopy(fitted)
    for x in normal[500:520]:
        monitor.step(x)
    before = _state(monitor)
    x = normal[520] + np.array([0, 0, 5.0, 0, 0, 0, 0, 0])
    first = monitor.score(x)
    assert monitor.score(x) == first
    after = _state(monitor)
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert np.array_equal(value, after[key], equal_nan=True), key  # type: ignore[arg-type]
    assert monitor.step(x)[0] == first


def test_state_is_plain_arrays_and_survives_npz(fitted: ProcessMonitor, normal: np.ndarray) -> None:
    monitor = copy.deepcopy(fitted)
    for x in normal[500:600]:
        monitor.step(x)
    state = _state(monitor)
    assert all(isinstance(v, (np.ndarray, int, float)) for v in state.values()), state
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in state.items()})  # type: ignore[arg-type]
    buffer.seek(0)
    saved = np.load(buffer, allow_pickle=False)
    restored = ProcessMonitor()
    for key in saved.files:
        value = saved[key]
        setattr(restored, key, value.item() if value.ndim == 0 else value)
    for x in normal[600:700]:
        a, b = monitor.step(x), restored.step(x)
        assert a[0] == b[0] and a[1] == b[1] and np.array_equal(a[2], b[2])


def test_deterministic(normal: np.ndarray) -> None:
    runs = [
        [s for s, _, _ in _stream(ProcessMonitor(seed=s).fit(normal[:300]), normal[300:600])]
        for s in (0, 0, 1)
    ]
    assert runs[0] == runs[1] == runs[2]


def test_correlation_break_inside_the_range_is_flagged_and_named(
    fitted: ProcessMonitor, normal: np.ndarray
) -> None:
    monitor = copy.deepcopy(fitted)
    X = normal[500:700].copy()
    X[100:, 1] = X[100:, 1].mean() - (X[100:, 1] - X[100:, 1].mean())  # mirrored: same range
    out = list(_stream(monitor, X))
    assert not any(a for _, a, _ in out[:100])
    late = out[120:]
    assert np.mean([a for _, a, _ in late]) > 0.9
    assert all(int(np.argmax(c)) == 1 for _, a, c in late if a)


def test_stuck_input_is_flagged_and_named(fitted: ProcessMonitor, normal: np.ndarray) -> None:
    monitor = copy.deepcopy(fitted)
    X = normal[500:600].copy()
    X[50:, 4] = X[49, 4]
    out = list(_stream(monitor, X))
    first = next(t for t, (_, a, _) in enumerate(out) if a)
    assert 50 <= first <= 55
    assert int(np.argmax(out[first][2])) == 4
    assert all(a for _, a, _ in out[first:])


def test_missing_values_are_imputed_without_alarms(
    fitted: ProcessMonitor, normal: np.ndarray
) -> None:
    rng = np.random.default_rng(3)
    X = normal[500:1500].copy()
    X[rng.random(X.shape) < 0.2] = np.nan
    X[100] = np.nan  # a whole reading missing
    X[200, 0] = np.inf  # a broken value counts as missing
    out = list(_stream(copy.deepcopy(fitted), X))
    assert all(math.isfinite(s) for s, _, _ in out)
    assert np.mean([a for _, a, _ in out]) <= 0.01
    # A correlation break is still found while another input is missing.
    Y = normal[500:700].copy()
    Y[100:, 1] = Y[100:, 1].mean() - (Y[100:, 1] - Y[100:, 1].mean())
    Y[:, 0] = np.nan
    out = list(_stream(copy.deepcopy(fitted), Y))
    assert np.mean([a for _, a, _ in out[130:]]) > 0.9
    assert all(int(np.argmax(c)) == 1 for _, a, c in out if a)


def test_constant_and_quantised_inputs(normal: np.ndarray) -> None:
    X = np.column_stack([normal[:, :3], np.full(len(normal), 7.0), np.full(len(normal), 21.6)])
    X[123, 4] = 21.61  # flickers once in the reference
    monitor = ProcessMonitor().fit(X[:300])
    assert monitor.inputs_.tolist() == [0, 1, 2, 4]
    assert monitor.scale_[-1] == pytest.approx(0.01)  # its resolution, not its tiny std
    out = list(_stream(monitor, X[300:600]))
    assert not any(a for _, a, _ in out)
    assert all(c[3] == 0.0 for _, _, c in out)


def test_no_adaptation_by_default_and_bounded_adaptation(
    fitted: ProcessMonitor, normal: np.ndarray
) -> None:
    X = normal[500:1500].copy()
    X[:, :6] += 0.5 * normal[:500, :6].std(axis=0)  # a small lasting offset of the process
    still = copy.deepcopy(fitted)
    list(_stream(still, X))
    assert not np.any(still.shift_)
    params = {k: getattr(fitted, k) for k in ("lags", "smoothing", "level_smoothing", "alpha")}
    adaptive = ProcessMonitor(**params, adapt=0.01).fit(normal[:500])
    list(_stream(adaptive, X))
    size = math.sqrt(adaptive.shift_ @ adaptive.level_precision_ @ adaptive.shift_)
    assert 0.0 < size <= 0.5 * adaptive.tolerance_ + 1e-9
    # Abnormal readings are never learned.
    Y = normal[:100].copy()
    Y[:, 2] += 30 * normal[:500, 2].std()
    flagged = 0
    for y in Y:
        before = adaptive.shift_.copy()
        if adaptive.step(y)[1]:
            flagged += 1
            assert np.array_equal(adaptive.shift_, before)
    assert flagged >= 95


def test_bad_input_is_refused(normal: np.ndarray) -> None:
    with pytest.raises(RuntimeError):
        ProcessMonitor().step(normal[0])
    with pytest.raises(ValueError, match="two-dimensional"):
        ProcessMonitor().fit(normal[:, 0])
    with pytest.raises(ValueError, match="at least"):
        ProcessMonitor().fit(normal[:5])
    for bad in ({"lags": -1}, {"smoothing": 0.0}, {"alpha": 1.0}, {"shrinkage": 0.0}):
        with pytest.raises(ValueError):
            ProcessMonitor(**bad).fit(normal[:100])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected 8 values"):
        ProcessMonitor().fit(normal[:100]).step(normal[0, :3])


# --- the proxies -------------------------------------------------------------------------------


def _rig_f1(kind: str) -> tuple[float, float]:
    ours, zscore = [], []
    for seed in range(4):
        X, labels = rig_run(seed, kind)
        ours.append(_f1(_abnormal(X, 400), labels[400:]))
        zscore.append(_f1(_zscore(X, 400, 3.0)[400:], labels[400:]))
    return float(np.mean(ours)), float(np.mean(zscore))


@pytest.mark.parametrize(
    ("kind", "margin"), [("shift", 0.3), ("variance", 0.3), ("stuck", 0.5), ("drift", 0.0)]
)
def test_rig_proxy_beats_the_zscore_per_row(kind: str, margin: float) -> None:
    ours, zscore = _rig_f1(kind)
    assert ours > zscore + margin, (ours, zscore)


@pytest.mark.xfail(
    strict=True,
    reason="a lasting break of 4 conditional standard deviations in a slowly varying process is "
    "flagged only while the level catches up: the level view has one limit for all directions, "
    "and the slow ones inflate it",
)
def test_rig_proxy_lasting_correlation_break() -> None:
    ours, zscore = _rig_f1("break")
    assert ours > zscore + 0.1, (ours, zscore)


def test_rig_proxy_f1_overall() -> None:
    f1 = []
    for kind in ("shift", "variance", "stuck"):
        for seed in range(4):
            X, labels = rig_run(seed, kind)
            f1.append(_f1(_abnormal(X, 400), labels[400:]))
    assert np.mean(f1) >= 0.8


def test_bearing_proxy_healthy_half_is_quiet_and_the_alarm_is_timely() -> None:
    healthy, ratios = [], []
    for seed in range(10):
        X, onset = bearing_run(seed)
        n, reference, half = len(X), len(X) // 5, len(X) // 2
        flags = np.r_[np.zeros(reference, dtype=bool), _abnormal(X, reference)]
        healthy.append(flags[reference:half].mean())
        baseline = _zscore(X, reference, 4.0)
        ours_first = half + int(np.argmax(flags[half:]))
        theirs_first = half + int(np.argmax(baseline[half:]))
        assert flags[half:].any()
        if theirs_first >= onset:  # the baseline's alarm is a detection, not noise
            ratios.append((n - ours_first) / (n - theirs_first))
    assert max(healthy) <= 0.02
    assert np.median(ratios) >= 0.9
