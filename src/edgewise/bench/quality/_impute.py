"""Imputation benchmark: Beijing air quality, 10% of the present values masked at random."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from edgewise.impute import Kalman, LastValue, Linear, Regression, Seasonal
from edgewise.impute._base import Imputer
from edgewise.stream import Array, Reading

__all__ = ["COLUMNS", "MASK_FRACTION", "candidates", "impute_scores"]

COLUMNS = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM")
"""The numeric columns of each station file (the wind direction ``wd`` is categorical)."""

MASK_FRACTION = 0.1


def candidates() -> dict[str, Imputer | Linear]:
    """The imputers compared, with the parameters used (hourly readings: a season is a day)."""
    return {
        "last_value": LastValue(),
        "linear": Linear(max_delay=24),
        "seasonal": Seasonal(period=24),
        "kalman": Kalman(),
        "regression": Regression(),
    }


def _load_station(path: Path, rows: int | None) -> tuple[Array, Array]:
    frame = pd.read_csv(path, nrows=rows)
    when = pd.to_datetime(frame[["year", "month", "day", "hour"]])
    seconds = (when - pd.Timestamp("1970-01-01")).dt.total_seconds()
    values = frame[list(COLUMNS)]
    return np.asarray(values, dtype=np.float64), np.asarray(seconds, dtype=np.float64)


def _mask(X: Array, rng: np.random.Generator) -> NDArray[np.bool_]:
    """Exactly ``MASK_FRACTION`` of each column's present values, chosen at random."""
    mask = np.zeros(X.shape, dtype=np.bool_)
    for j in range(X.shape[1]):
        present = np.flatnonzero(~np.isnan(X[:, j]))
        chosen = rng.choice(present, size=round(MASK_FRACTION * present.size), replace=False)
        mask[chosen, j] = True
    return mask


def _stream(step: Imputer | Linear, readings: list[Reading]) -> Array:
    """The step's outputs, reading by reading as in a stream, then flushed."""
    out = [o for reading in readings for o in step.update(reading)] + step.flush()
    return np.array([[r.values[c] for c in COLUMNS] for r in out], dtype=np.float64)


def impute_scores(folder: Path, *, seed: int = 0, rows: int | None = None) -> dict[str, Any]:
    """Normalised MAE of each imputer on masked cells of every station file and column.

    For each station file (the first ``rows`` rows, or all) and numeric column, 10% of the present
    values are masked at random (``seed``). Each imputer runs over the masked file as a stream;
    its MAE on the masked cells that every imputer filled (a cell before a column's first value
    cannot be filled by any) is divided by the column's standard deviation in that station, and
    these normalised MAEs are averaged over stations and columns. ``impute_mae_ratio_vs_last`` is
    the best imputer's average over last-value imputation's.
    """
    rng = np.random.default_rng(seed)
    errors: dict[str, list[float]] = {name: [] for name in candidates()}
    masked = 0
    paths = sorted(folder.glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"no station files (*.csv) in {folder}")
    for path in paths:
        X, timestamps = _load_station(path, rows)
        mask = _mask(X, rng)
        readings = [
            Reading(path.stem, t, dict(zip(COLUMNS, row, strict=True)))
            for t, row in zip(timestamps.tolist(), np.where(mask, np.nan, X).tolist(), strict=True)
        ]
        outputs = {name: _stream(step, readings) for name, step in candidates().items()}
        scored = mask & np.logical_and.reduce([~np.isnan(Y) for Y in outputs.values()])
        masked += int(scored.sum())
        spread = np.nanstd(X, axis=0)
        for name, Y in outputs.items():
            for j in range(len(COLUMNS)):
                cells = scored[:, j]
                errors[name].append(float(np.mean(np.abs(Y[cells, j] - X[cells, j]))) / spread[j])
    mae = {name: float(np.mean(values)) for name, values in errors.items()}
    best = min(mae, key=mae.__getitem__)
    return {
        "impute_mae_ratio_vs_last": mae[best] / mae["last_value"],
        "impute_best": best,
        "impute_mae_normalised": mae,
        "impute_ratio_vs_last": {name: value / mae["last_value"] for name, value in mae.items()},
        "impute_delay_readings": {name: step.delay for name, step in candidates().items()},
        "impute_masked_cells": masked,
        "impute_stations": len(paths),
    }
