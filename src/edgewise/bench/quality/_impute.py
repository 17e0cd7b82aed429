"""Imputation benchmark: Beijing air quality with random cells and burst gaps masked; Intel Lab.

Data: ``BeijingAirQuality`` (UCI Beijing Multi-Site Air-Quality data): four station files of
35,064 hourly readings (2013-03-01 to 2017-02-28), 11 numeric columns each. Each station is one
stream of readings with 11 values.

Two scenarios, each drawn from ``seed`` over the whole of every station file, on a clean copy:

* **random cells** (the headline): exactly ``MASK_FRACTION`` of each column's present values,
  chosen at random; most are single missing readings between two present ones;
* **bursts**: runs of ``BURST_LENGTHS`` consecutive present values of one column, their lengths
  log-uniform (so each gap-length bucket gets about as many runs), each between two present
  values that stay present, until about ``MASK_FRACTION`` of the column's present values are in
  runs.

Each imputer runs over each masked station file as a stream, reading by reading, then flushed.
On the masked cells that every imputer filled, its MAE is divided by the column's standard
deviation (over the rows scored), and these are averaged over stations and columns; a ratio is
that average over last-value imputation's. Imputers that answer at once (``delay == 0``) are
ranked apart from those that wait for later readings (``delay > 0``, reported with the delay).
Per gap length (``BUCKETS``), bucket 1 holds the random cells whose neighbours are present, the
others the burst runs of those lengths.

**Tuning / test split.** Parameters were chosen on the first year only (``TUNING_ROWS``:
2013-03-01 to 2014-02-28, seed 0; ``docs/tuning.md`` logs every configuration tried, and the one
fix made after the test was first scored); the three later years were scored after the choice.
The ``impute_tuning_*`` and ``impute_test_*`` keys score each part, with its own columns'
standard deviations. The streams run over the whole file: the imputers learn from the past only,
so the first year's outputs do not depend on the rest.

**Intel Lab check** (:func:`intel_scores`, not used for tuning): the 50 Intel Berkeley Lab motes,
each file's stretch of each mote one stream of (temperature, humidity) at 30-minute steps (100
streams of 96 or 144 readings), ``MASK_FRACTION`` of each series' values masked at random.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from edgewise.impute import ChangeRegression, Kalman, LastValue, Linear, Regression, Seasonal
from edgewise.impute._base import Imputer
from edgewise.stream import Array, Reading

__all__ = [
    "BUCKETS",
    "BURST_LENGTHS",
    "COLUMNS",
    "INTEL_COLUMNS",
    "MASK_FRACTION",
    "TUNING_ROWS",
    "candidates",
    "impute_scores",
    "intel_scores",
]

COLUMNS = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM")
"""The numeric columns of each station file (the wind direction ``wd`` is categorical)."""

MASK_FRACTION = 0.1
BURST_LENGTHS = (2, 48)
"""Shortest and longest run of missing readings in the burst scenario."""
BUCKETS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 48))
"""Gap-length buckets, in readings."""
TUNING_ROWS = 8760
"""Rows of the tuning part, the first year of each station file; the test part is the rest."""

INTEL_COLUMNS = ("temperature", "humidity")

Mask = NDArray[np.bool_]
Imputing = Imputer | Linear


def candidates() -> dict[str, Imputing]:
    """The imputers compared, with the parameters used (hourly readings: a season is a day)."""
    return {
        "last_value": LastValue(),
        "seasonal": Seasonal(period=24),
        "kalman": Kalman(),
        "regression": Regression(),
        "change_regression": ChangeRegression(),
        "linear": Linear(max_delay=24),
    }


def _label(bucket: tuple[int, int]) -> str:
    lo, hi = bucket
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _load_station(path: Path) -> tuple[Array, Array]:
    frame = pd.read_csv(path)
    when = pd.to_datetime(frame[["year", "month", "day", "hour"]])
    seconds = (when - pd.Timestamp("1970-01-01")).dt.total_seconds()
    values = frame[list(COLUMNS)]
    return np.asarray(values, dtype=np.float64), np.asarray(seconds, dtype=np.float64)


def _intel_streams(folder: Path) -> list[Array]:
    """One ``(steps, 2)`` array (temperature, humidity) per mote and file (train, then test)."""
    streams: list[Array] = []
    for split in ("Train", "Test"):
        quantities = [
            np.loadtxt(
                folder / f"intel{c.capitalize()}{split}.csv", delimiter=",", dtype=np.float64
            )
            for c in INTEL_COLUMNS
        ]
        streams.extend(np.stack([q[mote] for q in quantities], axis=1) for mote in range(50))
    return streams


def _mask(X: Array, rng: np.random.Generator) -> Mask:
    """Exactly ``MASK_FRACTION`` of each column's present values, chosen at random."""
    mask = np.zeros(X.shape, dtype=np.bool_)
    for j in range(X.shape[1]):
        present = np.flatnonzero(~np.isnan(X[:, j]))
        chosen = rng.choice(present, size=round(MASK_FRACTION * present.size), replace=False)
        mask[chosen, j] = True
    return mask


def _bursts(X: Array, rng: np.random.Generator) -> tuple[Mask, NDArray[np.int64]]:
    """Runs of masked readings in each column, and the length of the run each masked cell is in.

    A run covers present values only and keeps a present, unmasked value on each side, so each
    run is a gap of exactly its length.
    """
    lo, hi = BURST_LENGTHS
    mask = np.zeros(X.shape, dtype=np.bool_)
    length = np.zeros(X.shape, dtype=np.int64)
    n = len(X)
    for j in range(X.shape[1]):
        free = ~np.isnan(X[:, j])  # present and not masked
        wanted, masked = round(MASK_FRACTION * free.sum()), 0
        for _ in range(100 * n):  # a bound on the draws, far above what a sparse column needs
            if masked >= wanted:
                break
            run = int(np.exp(rng.uniform(np.log(lo), np.log(hi + 1))))
            start = int(rng.integers(1, n - run))
            if free[start - 1 : start + run + 1].all():
                mask[start : start + run, j] = True
                length[start : start + run, j] = run
                free[start : start + run] = False
                masked += run
    return mask, length


def _single(missing: Mask) -> Mask:
    """The missing cells whose neighbours in their column are present: gaps of length 1."""
    before = np.vstack([np.zeros((1, missing.shape[1]), dtype=np.bool_), missing[:-1]])
    after = np.vstack([missing[1:], np.zeros((1, missing.shape[1]), dtype=np.bool_)])
    return missing & ~before & ~after


def _run(
    steps: Mapping[str, Imputing], X: Array, mask: Mask, columns: Sequence[str], times: Array
) -> dict[str, Array]:
    """Each step's outputs on ``X`` with ``mask`` missing, as a stream, then flushed."""
    readings = [
        Reading("s", t, dict(zip(columns, row, strict=True)))
        for t, row in zip(times.tolist(), np.where(mask, np.nan, X).tolist(), strict=True)
    ]
    outputs = {}
    for name, step in steps.items():
        fresh = step.clone()
        out = [o for reading in readings for o in fresh.update(reading)] + fresh.flush()
        outputs[name] = np.array([[r.values[c] for c in columns] for r in out], dtype=np.float64)
    return outputs


class _Table:
    """Normalised MAE of every imputer on each (series, column) with scored cells, per key."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.errors: dict[str, dict[str, list[float]]] = {}
        self.cells: dict[str, int] = {}

    def add(self, key: str, X: Array, cells: Mask, outputs: Mapping[str, Array]) -> None:
        """Score ``cells`` of one series; ``X`` is the truth and gives the columns' spreads."""
        columns = np.flatnonzero(cells.any(axis=0))
        spread = np.nanstd(X, axis=0) if columns.size else np.zeros(0)
        for j in columns:
            rows = cells[:, j]
            errors = self.errors.setdefault(key, {name: [] for name in self.names})
            self.cells[key] = self.cells.get(key, 0) + int(rows.sum())
            for name in self.names:
                mae = float(np.mean(np.abs(outputs[name][rows, j] - X[rows, j])))
                errors[name].append(mae / spread[j])

    def mae(self, key: str) -> dict[str, float]:
        return {name: float(np.mean(errors)) for name, errors in self.errors[key].items()}

    def ratios(self, key: str) -> dict[str, float]:
        mae = self.mae(key)
        return {name: value / mae["last_value"] for name, value in mae.items()}


def _apart(values: Mapping[str, float], delays: Mapping[str, int]) -> dict[str, dict[str, float]]:
    """``values`` split into the imputers that answer at once and those that wait."""
    return {
        "no_delay": {k: v for k, v in values.items() if delays[k] == 0},
        "waiting": {k: v for k, v in values.items() if delays[k] > 0},
    }


def _best(ratios: Mapping[str, float], delays: Mapping[str, int]) -> str:
    """The imputer with no delay, last value aside, whose ratio is lowest."""
    no_delay = [k for k in ratios if delays[k] == 0 and k != "last_value"]
    return min(no_delay, key=ratios.__getitem__)


def impute_scores(
    folder: Path,
    *,
    seed: int = 0,
    rows: int | None = None,
    imputers: Mapping[str, Imputing] | None = None,
) -> dict[str, Any]:
    """Normalised MAE of each imputer on random cells and on burst gaps, overall and per part.

    ``rows`` keeps the first rows of each station file (the masks are drawn over the whole file
    first, so a shorter run scores a subset of the same cells); ``imputers`` replaces
    :func:`candidates` and must include ``"last_value"``. ``impute_mae_ratio_vs_last`` is the
    best imputer with no delay on the random cells of all rows, over last-value imputation.
    """
    steps = dict(candidates() if imputers is None else imputers)
    delays = {name: int(step.delay) for name, step in steps.items()}
    paths = sorted(folder.glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"no station files (*.csv) in {folder}")
    rng, burst_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    parts = {"all": slice(None), "tuning": slice(TUNING_ROWS), "test": slice(TUNING_ROWS, None)}
    table = _Table(list(steps))
    for path in paths:
        X, times = _load_station(path)
        cells, (burst, length) = _mask(X, rng), _bursts(X, burst_rng)
        keep = slice(rows)  # after the masks, so a shorter run scores a subset of the same cells
        X, times, cells = X[keep], times[keep], cells[keep]
        burst, length = burst[keep], length[keep]
        single = _single(cells | np.isnan(X))
        for mask in (cells, burst):
            outputs = _run(steps, X, mask, COLUMNS, times)
            scored = mask & np.logical_and.reduce([~np.isnan(Y) for Y in outputs.values()])
            for part, where in parts.items():
                Y = {name: out[where] for name, out in outputs.items()}
                if mask is cells:
                    table.add(part, X[where], scored[where], Y)
                    table.add(f"{part}:1", X[where], (scored & single)[where], Y)
                    continue
                for lo, hi in BUCKETS[1:]:
                    within = scored & (length >= lo) & (length <= hi)
                    table.add(f"{part}:{_label((lo, hi))}", X[where], within[where], Y)
    result: dict[str, Any] = {"impute_stations": len(paths), "impute_delay_readings": delays}
    for part in parts:
        if part not in table.errors:
            continue
        prefix = "impute" if part == "all" else f"impute_{part}"
        ratios = table.ratios(part)
        best = _best(ratios, delays)
        result[f"{prefix}_mae_ratio_vs_last"] = ratios[best]
        result[f"{prefix}_best"] = best
        result[f"{prefix}_ratio_vs_last"] = _apart(ratios, delays)
        result[f"{prefix}_masked_cells"] = table.cells[part]
        gaps = [_label(b) for b in BUCKETS if f"{part}:{_label(b)}" in table.errors]
        result[f"{prefix}_gap_ratio_vs_last"] = {
            gap: _apart(table.ratios(f"{part}:{gap}"), delays) for gap in gaps
        }
        if part == "all":
            result["impute_mae_normalised"] = _apart(table.mae(part), delays)
            result["impute_gap_mae_normalised"] = {
                gap: _apart(table.mae(f"{part}:{gap}"), delays) for gap in gaps
            }
            result["impute_gap_cells"] = {gap: table.cells[f"{part}:{gap}"] for gap in gaps}
    return result


def intel_scores(folder: Path, *, seed: int = 0) -> dict[str, Any]:
    """The same random-cell protocol on the Intel Lab motes: each imputer over last value.

    Each mote's stretch of each file is one stream of (temperature, humidity); ``MASK_FRACTION``
    of each series' values are masked at random (``seed``); a series' MAE is divided by its
    standard deviation.
    """
    steps = candidates()
    delays = {name: int(step.delay) for name, step in steps.items()}
    rng = np.random.default_rng(seed)
    table = _Table(list(steps))
    for X in _intel_streams(folder):
        mask = _mask(X, rng)
        outputs = _run(steps, X, mask, INTEL_COLUMNS, np.arange(len(X), dtype=np.float64) * 1800.0)
        scored = mask & np.logical_and.reduce([~np.isnan(Y) for Y in outputs.values()])
        table.add("intel", X, scored, outputs)
    ratios = table.ratios("intel")
    return {
        "impute_intel_ratio_vs_last": _apart(ratios, delays),
        "impute_intel_masked_cells": table.cells["intel"],
    }
