"""Throughput of the default detector against River's HalfSpaceTrees, measured in one process.

One reading = score + learn, single thread. Each side runs on the same univariate stream (NAB's
``realKnownCause/machine_temperature_system_failure.csv`` repeated to ``n`` readings); the runs
are interleaved (edgewise per-reading, edgewise batch, River) so that load from other processes on
a shared machine falls on all of them alike, and the median of ``repeats`` runs is reported.

The per-reading path the agent uses is measured apart: :class:`~edgewise.stream.Reading` objects
of ``streams`` interleaved streams through ``RangeLimit | Hampel | DefaultDetector`` (one lane per
stream), against River's ``MinMaxScaler() | HalfSpaceTrees()`` with one model per stream, on the
same values. Both sides first create every stream's model and feed it ``warm_readings`` readings
untimed (River builds each HalfSpaceTrees on its first reading, and both warm-ups must be over);
then each run times ``timed_readings`` more readings per stream, round-robin, the two sides
interleaved run by run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._datadir import data_dir
from ..clean import Hampel, RangeLimit
from ..detect import DefaultDetector
from ..stream import Detector, Pipeline, Reading, create, save_state

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


def _stream_values(values: NDArray[np.float64], streams: int, length: int) -> NDArray[np.float64]:
    """``streams`` x ``length`` values: stream k reads the series from its own offset."""
    offsets = (np.arange(streams) * 997) % len(values)
    at = (offsets[:, None] + np.arange(length)[None, :]) % len(values)
    picked: NDArray[np.float64] = values[at]
    return picked


def _river_pipeline() -> Any:
    from river import anomaly, preprocessing

    return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees()


def _timed_pipeline(pipeline: Pipeline, readings: list[Reading]) -> float:
    update = pipeline.update
    start = time.perf_counter()
    for reading in readings:
        update(reading)
    return time.perf_counter() - start


def _timed_river(models: list[Any], rows: list[tuple[int, dict[str, float]]]) -> float:
    start = time.perf_counter()
    for k, x in rows:
        model = models[k]
        model.score_one(x)
        model.learn_one(x)
    return time.perf_counter() - start


def _round_robin(block: NDArray[np.float64], first: int) -> tuple[list[Reading], list[Any]]:
    """Readings (edgewise) and ``(stream, dict)`` rows (River) of a block, round-robin."""
    readings, rows = [], []
    for i in range(block.shape[1]):
        for k in range(block.shape[0]):
            value = float(block[k, i])
            readings.append(Reading(f"s{k}", 60.0 * (first + i), {"value": value}))
            rows.append((k, {"value": value}))
    return readings, rows


def run_pipeline_throughput(
    *,
    data: Path | None = None,
    streams: int = 1000,
    warm_readings: int = 1000,
    timed_readings: int = 200,
    repeats: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Readings per second of many streams through pipelines, edgewise vs River, interleaved."""
    values = _stream(data, 20_000)
    series = _stream_values(values, streams, warm_readings + repeats * timed_readings)
    pipeline = Pipeline(RangeLimit(low=-50.0, high=200.0), Hampel(), DefaultDetector())
    models = [_river_pipeline() for _ in range(streams)]
    readings, rows = _round_robin(series[:, :warm_readings], 0)
    _timed_pipeline(pipeline, readings)
    _timed_river(models, rows)
    ours: list[float] = []
    river: list[float] = []
    for r in range(repeats):
        first = warm_readings + r * timed_readings
        readings, rows = _round_robin(series[:, first : first + timed_readings], first)
        ours.append(len(readings) / _timed_pipeline(pipeline, readings))
        river.append(len(rows) / _timed_river(models, rows))
        if progress:
            progress(r + 1, repeats)
    ours_per_s, river_per_s = float(np.median(ours)), float(np.median(river))
    return {
        "pipeline_streams": streams,
        "pipeline_timed_readings_per_stream": timed_readings,
        "edgewise_pipeline_one_per_s": ours_per_s,
        "river_pipeline_one_per_s": river_per_s,
        "ratio_pipeline": ours_per_s / river_per_s,
        "pipeline_runs": {"edgewise_pipeline_one_per_s": ours, "river_pipeline_one_per_s": river},
    }


def run_throughput(
    *,
    data: Path | None = None,
    n: int = 200_000,
    repeats: int = 5,
    streams: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Measure readings per second of both sides, interleaved; return a JSON-ready dict."""
    if n < 1 or repeats < 1 or streams < 1:
        raise ValueError("n, repeats and streams must be positive")
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
    pipelines = run_pipeline_throughput(data=data, streams=streams, repeats=repeats)
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
        "bytes_per_stream": len(save_state(detector)),
        "compile_seconds": compile_seconds,
        "runs": {
            "edgewise_one_per_s": one,
            "edgewise_many_per_s": many,
            "river_hst_one_per_s": river,
        },
        **pipelines,
    }
