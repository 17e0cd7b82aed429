"""The int8 firmware on a Cortex-M4 under QEMU: outputs bit-exact with the numpy runtime."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from models_synthetic import CLASSES, recordings

from edgewise.models import fit_mlp, held_out_windows, quantize_int8, run_on_m4, train_folds


def test_m4_firmware_matches_numpy(tmp_path: Path) -> None:
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        reason = "arm-none-eabi-gcc or qemu-system-arm not installed (.ci/run installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    recs = recordings()
    train = train_folds(recs, CLASSES, train_fraction=0.7, folds=1, window=256, stride=128)[0]
    model = fit_mlp(train.x, train.y, classes=CLASSES, bands=16, hidden=8, alpha=1e-3, seed=0)
    small = quantize_int8(model, calibration=train.x)
    counts = small.quantize_input(held_out_windows(recs, CLASSES, train_fraction=0.7, window=256).x)
    run = run_on_m4(small, counts, tmp_path, timeout=60)
    np.testing.assert_array_equal(run.logits, small.logits(counts))
    np.testing.assert_array_equal(run.classes, small.predict(counts))
    assert 0 < run.flash_bytes < 32_768
    assert 0 < run.ram_bytes < 8_192
