"""The default detector's two kernels, C and numba: the same outputs on NAB, and their speed.

**Equality.** Every NAB file runs through both kernels reading by reading (DETECT, a fresh state
per file, the default parameters), each kernel on its own state: per reading, whether the scores
are within 1e-4 and whether they are equal, whether the decisions (``is_anomaly``) and the alarms
are the same, and whether the two states are the same bytes afterwards. Issue 9's bar: scores
within 1e-4 and the same ``is_anomaly`` and alarms on at least 99.9% of the readings.

**Speed.** The longest NAB file through each kernel's per-reading step (the agent's path: one call
from Python per reading) and through its batch ``run_column`` (``detect_many``, the NAB runner's
path); the four are interleaved run by run, so that load from other processes on a shared machine
falls on all of them alike, and the median of ``repeats`` runs is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..detect import _default_backend as backend
from ..detect import _default_kernel as kernel
from ..detect.default import DefaultDetector
from ._meta import run_metadata
from .nab import load_corpus

__all__ = ["compare_kernels", "kernel_speed", "run_kernels"]

TOLERANCE = 1e-4
SPEED_FILE = "realKnownCause/machine_temperature_system_failure.csv"


def _need_c() -> None:
    if not backend.C_KERNEL:
        raise RuntimeError(
            "the C kernel is not built: `pip install -e .` or `python setup.py build_ext --inplace`"
        )


def compare_kernels(values: NDArray[np.float64], params: NDArray[np.float64]) -> dict[str, int]:
    """Readings of ``values`` on which the C and numba kernels agree, by each criterion.

    Raises :class:`RuntimeError` where the C kernel is not built.

    >>> from edgewise.detect.default import DefaultDetector
    >>> params = DefaultDetector(warmup=50)._params()
    >>> found = compare_kernels(np.sin(np.arange(400.0)), params) if backend.C_KERNEL else None
    >>> found is None or found["readings"] == found["same_state"] == 400
    True
    """
    _need_c()
    c_state = kernel.new_state(params)
    numba_state = c_state.copy()
    found = dict.fromkeys(
        ("readings", "scores_close", "scores_equal", "same_is_anomaly", "same_alarm", "same_state"),
        0,
    )
    numba_step = kernel.step
    for x in values.tolist():
        c = backend.c_step(c_state, x, kernel.DETECT)
        n = numba_step(numba_state, x, kernel.DETECT)
        numba_step = kernel.step  # numba's dispatcher, once the first call compiled it
        found["readings"] += 1
        found["scores_close"] += abs(c - n) <= TOLERANCE
        found["scores_equal"] += c == n
        found["same_is_anomaly"] += (c_state[kernel.O_VIEWS] > 0) == (
            numba_state[kernel.O_VIEWS] > 0
        )
        alarms = [int(s[kernel.O_EVENTS]) & kernel.ALARM for s in (c_state, numba_state)]
        found["same_alarm"] += alarms[0] == alarms[1]
        found["same_state"] += c_state.tobytes() == numba_state.tobytes()
    return found


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def kernel_speed(values: NDArray[np.float64], repeats: int) -> dict[str, float]:
    """Nanoseconds per reading of each kernel, per reading and in a batch (medians)."""
    _need_c()
    params = DefaultDetector()._params()
    n = len(values)
    readings = values.tolist()
    outputs = [np.zeros(n), np.zeros(n), np.zeros(n), np.zeros((n, kernel.EVIDENCE))]

    def per_reading(step: Callable[[NDArray[np.float64], float, int], float]) -> None:
        state = kernel.new_state(params)
        for x in readings:
            step(state, x, kernel.DETECT)

    runs: dict[str, Callable[[], object]] = {
        "c_ns_per_reading": lambda: per_reading(backend.c_step),
        "numba_ns_per_reading": lambda: per_reading(kernel.step),
        "c_batch_ns_per_reading": lambda: backend.run_column(
            kernel.new_state(params), values, *outputs
        ),
        "numba_batch_ns_per_reading": lambda: kernel.run_column(
            kernel.new_state(params), values, *outputs
        ),
    }
    kernel.step(kernel.new_state(params), 0.0, kernel.DETECT)  # numba compiled before timing
    kernel.run_column(kernel.new_state(params), values[:1], *(o[:1] for o in outputs))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(_timed(run))
    result = {name: float(np.median(t)) / n * 1e9 for name, t in times.items()}
    result["c_vs_numba_per_reading"] = result["numba_ns_per_reading"] / result["c_ns_per_reading"]
    return result


def run_kernels(
    data: Path | None = None,
    repeats: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Both criteria over the whole NAB corpus, and the kernels' speed; with run metadata."""
    corpus = load_corpus(data)
    params = DefaultDetector()._params()
    totals: dict[str, int] = {}
    files = list(corpus)
    for i, nab_file in enumerate(files):
        for key, count in compare_kernels(nab_file.values, params).items():
            totals[key] = totals.get(key, 0) + count
        if progress is not None:
            progress(i + 1, len(files))
    readings = totals["readings"]
    result: dict[str, Any] = {"files": len(files), **totals}
    for key in ("scores_close", "scores_equal", "same_is_anomaly", "same_alarm", "same_state"):
        result[f"share_{key}"] = totals[key] / readings
    result["meets_bar"] = (
        min(
            result["share_scores_close"],
            result["share_same_is_anomaly"],
            result["share_same_alarm"],
        )
        >= 0.999
    )
    result.update(kernel_speed(corpus[SPEED_FILE].values, repeats))
    result["repeats"] = repeats
    result["meta"] = run_metadata()
    return result
