"""The exported C, compiled with gcc, against the numpy runtime: float within a tolerance,
int8 bit-exact; synthetic data and a few CWRU windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from models_synthetic import CLASSES, recordings

from conftest import need_dataset
from edgewise.bench.models import c_outputs
from edgewise.models import (
    Model,
    Recording,
    fit_mlp,
    held_out_windows,
    load_cwru,
    quantize_int8,
    train_folds,
)

C_FLOAT_TOLERANCE = 1e-3
"""Float32 C against float64 features: logits differ by rounding only."""


def _models(
    window: int, bands: int, recs: list[Recording], classes: list[str]
) -> tuple[Model, Model, np.ndarray]:
    train = train_folds(
        recs, classes, train_fraction=0.7, folds=1, window=window, stride=window // 2
    )[0]
    model = fit_mlp(train.x, train.y, classes=classes, bands=bands, hidden=8, alpha=1e-3, seed=0)
    test = held_out_windows(recs, classes, train_fraction=0.7, window=window)
    return model, quantize_int8(model, calibration=train.x), test.x


def _check(model: Model, small: Model, x: np.ndarray, tmp_path: Path) -> None:
    classes, logits = c_outputs(model, x, tmp_path / "float")
    assert np.max(np.abs(logits - model.logits(x))) < C_FLOAT_TOLERANCE
    assert np.mean(classes == model.predict(x)) >= 0.99
    counts = small.quantize_input(x)
    classes, logits = c_outputs(small, counts, tmp_path / "int8")
    np.testing.assert_array_equal(logits, small.logits(counts))
    np.testing.assert_array_equal(classes, small.predict(counts))


def test_c_matches_numpy_on_synthetic_windows(tmp_path: Path) -> None:
    model, small, x = _models(128, 8, recordings(), CLASSES)
    _check(model, small, x, tmp_path)


def test_c_matches_numpy_on_cwru_windows(tmp_path: Path) -> None:
    folder = need_dataset("CWRU_bearing")
    recs = [r for r in load_cwru(folder) if r.label in ("normal", "IR007", "OR021")]
    recs = [
        Recording(name=r.name, label=r.label, samples=r.samples[:20_000], sample_rate=r.sample_rate)
        for r in recs
    ]
    classes = sorted(r.label for r in recs)
    model, small, x = _models(512, 32, recs, classes)
    _check(model, small, x[::4], tmp_path)
