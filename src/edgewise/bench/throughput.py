"""Throughput of the default detector against River's HalfSpaceTrees, measured in one process.

One reading = score + learn, single thread. Each side runs on the same univariate stream (NAB's
``realKnownCause/machine_temperature_system_failure.csv`` repeated to ``n`` readings); the runs
are interleaved (edgewise per-reading, edgewise batch, River) so that load from other processes on
a shared machine falls on all of them alike, and the median of ``repeats`` runs is reported.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._datadir import data_dir
from ..stream import Detector, create

__all__ = ["run_throughput"]

STREAM_FILE = "NAB/data/realKnownCause/machine_temperature_system_failure.csv"


def _stream(data: Path | None, n: int) -> NDArray[np.float64]:
    path = (data or data_dir()) / STREAM_FILE
    values = np.loadtxt(path, delimiter=",", skiprows=1, usecols=1, dtype=np.float64)
    return np.resize(values, n)


def _default_detector() -> Detector:
    detector = create("default")
    assert isinstance(detector, Detector)
    return detector


def _edgewise_one(values: NDArray[np.float64]) -> tuple[float, Detector]:
    detector = _default_detector()
    detect_one = detector.detect_one
    readings = [{"value": v} for v in values.tolist()]
    start = time.perf_counter()
    for x in readings:
        detect_one(x)
    return time.perf_counter() - start, detector


def _edgewise_many(values: NDArray[np.float64]) -> float:
    detector = _default_detector()
    X = values[:, None]
    start = time.perf_counter()
    detector.detect_many(X, ["value"])
    return time.perf_counter() - start


def _river_one(values: NDArray[np.float64]) -> float:
    from river.anomaly import HalfSpaceTrees

    model: Any = HalfSpaceTrees()  # river is only partly typed
    readings = [{"value": v} for v in values.tolist()]
    start = time.perf_counter()
    for x in readings:
        model.score_one(x)
        model.learn_one(x)
    return time.perf_counter() - start


def _latencies_us(values: NDArray[np.float64]) -> NDArray[np.float64]:
    detector = _default_detector()
    detect_one = detector.detect_one
    clock = time.perf_counter_ns
    readings = [{"value": v} for v in values.tolist()]
    out = np.empty(len(readings))
    for i, x in enumerate(readings):
        start = clock()
        detect_one(x)
        out[i] = clock() - start
    return out / 1000.0


def run_throughput(
    *,
    data: Path | None = None,
    n: int = 200_000,
    repeats: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Measure readings per second of both sides, interleaved; return a JSON-ready dict."""
    if n < 1 or repeats < 1:
        raise ValueError("n and repeats must be positive")
    values = _stream(data, n)

    start = time.perf_counter()
    _default_detector().detect_many(values[:100, None], ["value"])
    _default_detector().detect_one({"value": float(values[0])})
    compile_seconds = time.perf_counter() - start
    # Warm-up: caches, allocator and branch predictors, for every side alike.
    warm = values[: min(n, 5_000)]
    _edgewise_one(warm)
    _edgewise_many(warm)
    _river_one(warm)

    one: list[float] = []
    many: list[float] = []
    river: list[float] = []
    detector: Detector | None = None
    steps = 3 * repeats + 1
    for r in range(repeats):
        seconds, detector = _edgewise_one(values)
        one.append(n / seconds)
        many.append(n / _edgewise_many(values))
        river.append(n / _river_one(values))
        if progress:
            progress(3 * (r + 1), steps)
    latencies = _latencies_us(values)
    if progress:
        progress(steps, steps)
    assert detector is not None
    one_per_s = float(np.median(one))
    many_per_s = float(np.median(many))
    river_per_s = float(np.median(river))
    return {
        "stream": STREAM_FILE,
        "readings": n,
        "repeats": repeats,
        "edgewise_one_per_s": one_per_s,
        "edgewise_many_per_s": many_per_s,
        "river_hst_one_per_s": river_per_s,
        "ratio_one": one_per_s / river_per_s,
        "ratio_many": many_per_s / river_per_s,
        "p50_one_us": float(np.percentile(latencies, 50)),
        "p99_one_us": float(np.percentile(latencies, 99)),
        "bytes_per_stream": len(pickle.dumps(detector)),
        "compile_seconds": compile_seconds,
        "runs": {
            "edgewise_one_per_s": one,
            "edgewise_many_per_s": many,
            "river_hst_one_per_s": river,
        },
    }
