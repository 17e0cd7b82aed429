"""Slow degradation: C-MAPSS FD001 engines run to failure, against a per-sensor z-score baseline.

``CMAPSS/train_FD001.txt``: 100 engines, one row per cycle (unit, cycle, 3 settings, 21
sensors). Per unit, a fresh :class:`~edgewise.detect.DefaultDetector` is commissioned on the
unit's first ``REFERENCE`` cycles of the 21 sensors (known normal: ``edgewise detect --warmup
30``), which it watches together, then judges the following cycles one by one. The first alarm
is the alarm; its lead is the cycles from it to the unit's last
(0 without an alarm), and it is *early* (a false alarm on a healthy engine) when it falls in the
first half of the unit's life.

The baseline, in the same run: per sensor, ``|z|`` against the unit's own first ``REFERENCE``
cycles (sample standard deviation; sensors that do not vary there are dropped), the largest over
the sensors; its threshold is the largest such value over the reference cycles of all units; its
alarm is the first later cycle above it.

The units are split by sorted id: even positions form the tuning half (the monitor's defaults were
chosen on it), odd positions the held-out half; both are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._datadir import data_dir
from ..detect import DefaultDetector

__all__ = ["REFERENCE", "run_degradation"]

REFERENCE = 30
"""Cycles of each unit given as known normal."""
FILE = "CMAPSS/train_FD001.txt"
SENSORS = slice(5, 26)


def _units(data: Path | None) -> dict[int, NDArray[np.float64]]:
    rows = np.loadtxt((data or data_dir()) / FILE)
    ids = rows[:, 0].astype(int)
    return {int(u): rows[ids == u][:, SENSORS] for u in np.unique(ids)}


def _first(flags: NDArray[np.bool_]) -> int | None:
    """The cycle (1-based) of the first flag after the reference, or ``None``."""
    hits = np.flatnonzero(flags)
    return REFERENCE + int(hits[0]) + 1 if hits.size else None


def _detector_alarm(X: NDArray[np.float64]) -> int | None:
    names = [f"sensor_{i}" for i in range(1, X.shape[1] + 1)]
    detector = DefaultDetector().commission(X[:REFERENCE], names)
    return _first(detector.detect_many(X[REFERENCE:], names).alarm)


def _baseline_z(X: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per cycle, the largest ``|z|`` over the sensors that vary in the reference."""
    reference = X[:REFERENCE]
    mean, std = reference.mean(axis=0), reference.std(axis=0, ddof=1)
    varies = std > 1e-9 * np.maximum(1.0, np.abs(mean))
    z: NDArray[np.float64] = np.abs((X[:, varies] - mean[varies]) / std[varies]).max(axis=1)
    return z


def _score(alarms: Mapping[int, int | None], lives: Mapping[int, int]) -> dict[str, Any]:
    leads = [lives[u] - a if a is not None else 0 for u, a in alarms.items()]
    early = [u for u, a in alarms.items() if a is not None and a <= lives[u] / 2]
    return {
        "median_lead_cycles": float(np.median(leads)),
        "early_alarm_units": len(early),
        "units_without_alarm": sum(a is None for a in alarms.values()),
        "units": len(alarms),
    }


def run_degradation(
    *,
    data: Path | None = None,
    units: Iterable[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Alarm lead times of the default detector and of the baseline on FD001; JSON-ready.

    ``data`` is the datasets folder (default: :func:`~edgewise._datadir.data_dir`); ``units``
    limits the run to some unit ids (the baseline threshold still comes from all units).
    """
    everything = _units(data)
    chosen = sorted(everything if units is None else set(units))
    lives = {u: everything[u].shape[0] for u in chosen}
    z = {u: _baseline_z(X) for u, X in everything.items()}
    threshold = max(float(v[:REFERENCE].max()) for v in z.values())
    baseline = {u: _first(z[u][REFERENCE:] > threshold) for u in chosen}
    ours: dict[int, int | None] = {}
    for done, u in enumerate(chosen, start=1):
        ours[u] = _detector_alarm(everything[u])
        if progress:
            progress(done, len(chosen))

    ordered = sorted(everything)
    halves = {"tuning": set(ordered[0::2]), "held_out": set(ordered[1::2])}
    result: dict[str, Any] = {"reference_cycles": REFERENCE, "baseline_threshold": threshold}
    parts = {"": set(chosen), **{f"_{name}": part & set(chosen) for name, part in halves.items()}}
    for suffix, part in parts.items():
        if not part:
            continue
        mine = _score({u: ours[u] for u in sorted(part)}, lives)
        theirs = _score({u: baseline[u] for u in sorted(part)}, lives)
        result[f"cmapss_median_lead_cycles{suffix}"] = mine["median_lead_cycles"]
        result[f"cmapss_early_alarm_units{suffix}"] = mine["early_alarm_units"]
        result[f"cmapss_units_without_alarm{suffix}"] = mine["units_without_alarm"]
        result[f"baseline_median_lead_cycles{suffix}"] = theirs["median_lead_cycles"]
        result[f"baseline_early_alarm_units{suffix}"] = theirs["early_alarm_units"]
        result[f"units{suffix}"] = mine["units"]
        result[f"bar_met{suffix}"] = (
            mine["median_lead_cycles"] >= theirs["median_lead_cycles"]
            and mine["early_alarm_units"] <= theirs["early_alarm_units"]
        )
    result["alarm_cycles"] = {str(u): ours[u] for u in chosen}
    result["baseline_alarm_cycles"] = {str(u): baseline[u] for u in chosen}
    result["lives"] = {str(u): lives[u] for u in chosen}
    return result
