"""Tennessee Eastman: the default pipeline beside a plain PCA baseline.

The Braatz group's data (``TEP/``, see its README): ``d00.dat`` is the only normal training run
(stored transposed, 500 x 52); each test run ``dNN_te.dat`` has 960 samples, normal for samples
1-160, with fault NN from sample 161 on (``d00_te.dat`` stays normal). For each test run a fresh
copy of the default pipeline (:func:`~edgewise.detect.default_pipeline`: last-value imputation,
then the default detector, which watches the 52 inputs together) is commissioned on ``d00.dat``
alone, as its reference, and judges the run reading by reading, as
:class:`~edgewise.stream.Reading` objects; nothing about the test runs is used for fitting or for
the limits.

Reported per fault: the detection rate (share of samples 161-960 flagged), the false-alarm rate
(share of samples 1-160 flagged) and the first detection delay (samples after 160 to the first
flag). Summaries: the mean detection rate over the faults other than 3, 9 and 15 (practically
undetectable), the false-alarm rate pooled over samples 1-160 of all 22 test runs, and over all
960 samples of ``d00_te``. The baseline, in the same run: PCA of the standardised ``d00`` (mean,
sample standard deviation), the first components reaching 90% of the variance, 99% limits for T²
(F distribution) and SPE (Jackson-Mudholkar).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from .._datadir import data_dir
from ..detect import DefaultDetector, default_pipeline
from ..impute import LastValue
from ..stream import Pipeline, Reading

__all__ = ["FAULTS", "HARD_FAULTS", "ONSET", "pca_baseline", "run_tep"]

FAULTS = tuple(range(1, 22))
HARD_FAULTS = (3, 9, 15)
"""Faults known to be practically undetectable, left out of the mean detection rate."""
ONSET = 160
"""Normal samples at the start of each test run."""


def _train(folder: Path) -> NDArray[np.float64]:
    return np.loadtxt(folder / "d00.dat").T


def _test(folder: Path, fault: int) -> NDArray[np.float64]:
    return np.loadtxt(folder / f"d{fault:02d}_te.dat")


NAMES = [f"xmeas_{i}" for i in range(1, 42)] + [f"xmv_{i}" for i in range(1, 12)]
"""The 52 variables, in the files' column order."""


def _commissioned(train: NDArray[np.float64]) -> Pipeline:
    """The default pipeline, its steps commissioned on ``train``: every stream starts from it."""
    pipeline = default_pipeline()
    imputer, detector = pipeline.steps
    assert isinstance(imputer, LastValue) and isinstance(detector, DefaultDetector)
    detector.commission(imputer.learn_transform_many(train, NAMES), NAMES)
    return pipeline


def _readings(X: NDArray[np.float64]) -> list[Reading]:
    return [
        Reading("tep", 180.0 * i, dict(zip(NAMES, row, strict=True)))
        for i, row in enumerate(X.tolist())
    ]


def _flags(pipeline: Pipeline, X: NDArray[np.float64]) -> NDArray[np.bool_]:
    fresh = copy.deepcopy(pipeline)
    return np.array([d.is_anomaly for r in _readings(X) for d in fresh.detect(r)])


def _rates(flags: NDArray[np.bool_]) -> dict[str, Any]:
    hits = np.flatnonzero(flags[ONSET:])
    return {
        "detection_rate": float(flags[ONSET:].mean()),
        "false_alarm_rate": float(flags[:ONSET].mean()),
        "first_detection_delay": int(hits[0]) + 1 if hits.size else None,
    }


def _summary(flags: dict[int, NDArray[np.bool_]]) -> tuple[float, float, float]:
    """Mean detection rate (easy faults), pooled false-alarm rate (samples 1-160), d00_te rate."""
    easy = [f for f in flags if f and f not in HARD_FAULTS]
    detection = float(np.mean([flags[f][ONSET:].mean() for f in easy])) if easy else float("nan")
    pooled = float(np.concatenate([f[:ONSET] for f in flags.values()]).mean())
    normal = float(flags[0].mean()) if 0 in flags else float("nan")
    return detection, pooled, normal


def pca_baseline(
    train: NDArray[np.float64], variance: float = 0.90, confidence: float = 0.99
) -> tuple[Callable[[NDArray[np.float64]], tuple[NDArray[np.bool_], NDArray[np.bool_]]], int]:
    """Static PCA monitoring fitted on ``train``: a function giving T² and SPE flags, and k.

    Standardised with the training mean and sample standard deviation; the first k components of
    the correlation matrix reaching ``variance``; T² limit ``k(n²-1)/(n(n-k)) F(k, n-k)``; SPE
    limit by Jackson & Mudholkar (1979).
    """
    n = train.shape[0]
    mean, std = train.mean(axis=0), train.std(axis=0, ddof=1)
    eigval, eigvec = np.linalg.eigh(np.corrcoef(train, rowvar=False))
    eigval, eigvec = eigval[::-1], eigvec[:, ::-1]
    k = int(np.searchsorted(np.cumsum(eigval) / eigval.sum(), variance)) + 1
    t2_limit = k * (n * n - 1) / (n * (n - k)) * float(stats.f.ppf(confidence, k, n - k))
    theta = [float(np.sum(eigval[k:] ** i)) for i in (1, 2, 3)]
    h0 = 1.0 - 2.0 * theta[0] * theta[2] / (3.0 * theta[1] ** 2)
    c = float(stats.norm.ppf(confidence))
    spe_limit = theta[0] * (
        c * np.sqrt(2.0 * theta[1] * h0**2) / theta[0]
        + 1.0
        + theta[1] * h0 * (h0 - 1.0) / theta[0] ** 2
    ) ** (1.0 / h0)
    loadings = eigvec[:, :k]

    def flags(X: NDArray[np.float64]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        Z = (X - mean) / std
        scores = Z @ loadings
        t2 = np.sum(scores**2 / eigval[:k], axis=1)
        spe = np.sum((Z - scores @ loadings.T) ** 2, axis=1)
        return t2 > t2_limit, spe > spe_limit

    return flags, k


def _readings_per_s(pipeline: Pipeline, runs: Sequence[NDArray[np.float64]]) -> float:
    """Readings per second of the pipeline's per-reading path, a fresh copy per run."""
    total = 0.0
    for X in runs:
        fresh = copy.deepcopy(pipeline)
        readings = _readings(X)
        start = time.perf_counter()
        for reading in readings:
            fresh.update(reading)
        total += time.perf_counter() - start
    return sum(len(X) for X in runs) / total


def run_tep(
    *,
    data: Path | None = None,
    faults: Iterable[int] = FAULTS,
    repeats: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score ``d00_te`` and the given faults' test runs; return a JSON-ready dict.

    ``data`` is the datasets folder (default: :func:`~edgewise._datadir.data_dir`). The speed is
    the median of ``repeats`` timed passes over all the test runs (after one untimed pass).
    """
    folder = (data or data_dir()) / "TEP"
    files = [0, *sorted(set(faults) - {0})]
    train = _train(folder)
    start = time.perf_counter()
    pipeline = _commissioned(train)
    _flags(pipeline, train[:1])  # the reference is fitted at the first reading a stream sees
    fit_seconds = time.perf_counter() - start
    pca, components = pca_baseline(train)

    steps = len(files) + repeats
    tests: dict[int, NDArray[np.float64]] = {}
    ours: dict[int, NDArray[np.bool_]] = {}
    t2: dict[int, NDArray[np.bool_]] = {}
    spe: dict[int, NDArray[np.bool_]] = {}
    for done, fault in enumerate(files, start=1):
        tests[fault] = _test(folder, fault)
        ours[fault] = _flags(pipeline, tests[fault])
        t2[fault], spe[fault] = pca(tests[fault])
        if progress:
            progress(done, steps)
    speeds = []
    for r in range(repeats):
        speeds.append(_readings_per_s(pipeline, list(tests.values())))
        if progress:
            progress(len(files) + r + 1, steps)

    detection, pooled, normal = _summary(ours)
    result: dict[str, Any] = {
        "tep_mean_detection_rate": detection,
        "tep_false_alarm_rate": pooled,
        "tep_false_alarm_rate_d00_te": normal,
        "tep_per_fault": {str(f): _rates(ours[f]) for f in files if f},
        "tep_readings_per_s": float(np.median(speeds)),
        "tep_readings_per_s_runs": speeds,
        "tep_fit_seconds": fit_seconds,
        "faults": files[1:],
        "hard_faults_excluded": list(HARD_FAULTS),
        "pipeline": pipeline.to_spec(),
        "pca_components": components,
    }
    for name, flags in (("t2", t2), ("spe", spe)):
        detection, pooled, normal = _summary(flags)
        result[f"pca_{name}_mean_detection_rate"] = detection
        result[f"pca_{name}_false_alarm_rate"] = pooled
        result[f"pca_{name}_false_alarm_rate_d00_te"] = normal
        result[f"pca_{name}_per_fault"] = {str(f): _rates(flags[f]) for f in files if f}
    return result
