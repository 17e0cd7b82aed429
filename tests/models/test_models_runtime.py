"""The numpy runtime against scikit-learn, the int8 runtime against the float one, no leaks."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
from models_synthetic import CLASSES, recordings
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from edgewise.models import (
    features_fixed,
    features_float,
    fit_mlp,
    held_out_windows,
    quantize_int8,
    quantize_samples,
    train_folds,
)

PROBA_TOLERANCE = 1e-4
"""Float runtime vs scikit-learn's predict_proba (float32 weights against float64)."""


def _train() -> tuple[np.ndarray, np.ndarray]:
    fold = train_folds(recordings(), CLASSES, train_fraction=0.7, folds=1, window=128, stride=64)[0]
    return fold.x, fold.y


def test_float_runtime_matches_scikit_learn() -> None:
    x, y = _train()
    model = fit_mlp(x, y, classes=CLASSES, bands=8, hidden=8, alpha=1e-3, seed=0)
    features = features_float(x, bands=8)
    z = (features - features.mean(axis=0)) / features.std(axis=0)
    reference = MLPClassifier(hidden_layer_sizes=(8,), alpha=1e-3, max_iter=400, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(z, y)
    ours = model.predict_proba(x)
    assert np.max(np.abs(ours - reference.predict_proba(z))) < PROBA_TOLERANCE


def test_integer_front_end_follows_the_float_one() -> None:
    x, _ = _train()
    scale = 8000.0
    counts = quantize_samples(x, scale=scale)
    expected = features_float(counts / scale, bands=8) + 2 * np.log2(scale)
    assert np.max(np.abs(features_fixed(counts, bands=8) / 256 - expected)) < 0.1


def test_int8_model_keeps_the_float_accuracy() -> None:
    x, y = _train()
    model = fit_mlp(x, y, classes=CLASSES, bands=8, hidden=8, alpha=1e-3, seed=0)
    small = quantize_int8(model, calibration=x)
    test = held_out_windows(recordings(), CLASSES, train_fraction=0.7, window=128)
    float_acc = np.mean(model.predict(test.x) == test.y)
    int8_acc = np.mean(small.predict(test.x) == test.y)
    assert float_acc > 0.95
    assert abs(float_acc - int8_acc) <= 0.02
    assert small.artifact.size_bytes() < model.artifact.size_bytes()


def test_test_windows_never_overlap_training_windows() -> None:
    recs = recordings(samples=1000)
    train = train_folds(recs, CLASSES, train_fraction=0.7, folds=3, window=100, stride=10)
    test = held_out_windows(recs, CLASSES, train_fraction=0.7, window=100)
    first = recs[0].samples
    starts = {int(np.flatnonzero(first == w[0])[0]) for f in train for w in f.x[f.recording == 0]}
    test_starts = {int(np.flatnonzero(first == w[0])[0]) for w in test.x[test.recording == 0]}
    assert max(starts) + 100 <= 700 <= min(test_starts)
    # fold blocks: [0, 233), [233, 466), [466, 700): no window crosses a block boundary
    assert all(s + 100 <= 233 or s >= 233 for s in starts)
    assert all(s + 100 <= 466 or s >= 466 for s in starts)


def test_runtime_imports_no_scikit_learn(tmp_path: Path) -> None:
    x, y = _train()
    path = tmp_path / "m.ewm"
    fit_mlp(x, y, classes=CLASSES, bands=8, hidden=8, alpha=1e-3, seed=0).save(path)
    np.save(tmp_path / "x.npy", x[:5])
    script = (
        "import sys, numpy as np\n"
        "from edgewise.models import Model\n"
        f"m = Model.load(__import__('pathlib').Path({str(path)!r}))\n"
        f"m.predict(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "print(sorted(n for n in ('sklearn', 'scipy', 'pandas') if n in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
