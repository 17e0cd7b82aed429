"""CWRU bearing, 10 classes from raw drive-end samples: float and int8 accuracy, accuracy under
white noise at 0 dB SNR, size ratio, the exported C (host gcc) against the numpy runtime, the
Cortex-M4 firmware under QEMU, the same model through emlearn; then the WISDM adaptation
(``edgewise.bench.adaptation``)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgewise._datadir import data_dir
from edgewise.bench._emlearn import emlearn_include, emlearn_source, emlearn_version
from edgewise.bench.adaptation import run_adaptation
from edgewise.models import (
    Model,
    add_noise,
    export_c,
    grid,
    load_cwru,
    quantize_int8,
    run_on_m4,
    train_classifier,
    train_folds,
)

__all__ = ["GRID", "c_outputs", "run_models"]

GRID = grid(bands=(32, 64), hidden=(32, 64), alpha=(1e-3,), noise=(False, True))
"""The configurations cross-validated on the training data (the CLI's defaults)."""
_GCC = ("gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
_WINDOW, _STRIDE, _FOLDS, _TRAIN = 512, 128, 4, 0.7


def c_outputs(
    model: Model, windows: npt.NDArray[Any], folder: Path
) -> tuple[npt.NDArray[Any], ...]:
    """Classes and logits of the exported C (gcc -O2) on ``windows`` (int16 for int8 models)."""
    export_c(model, folder, harness=True)
    binary = folder / "ew_run"
    subprocess.run(
        [*_GCC, "-o", str(binary), str(folder / "ew_model.c"), str(folder / "ew_main.c"), "-lm"],
        check=True,
        timeout=120,
    )
    logit = "<i4" if model.precision == "int8" else "<f4"
    sample = np.int16 if model.precision == "int8" else np.float32
    done = subprocess.run(
        [str(binary)],
        input=windows.astype(sample).tobytes(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    record = np.dtype([("c", "<i4"), ("logits", logit, (len(model.classes),))])
    out = np.frombuffer(done.stdout, dtype=record)
    return out["c"], out["logits"]


def run_models(
    *, data: Path | None = None, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Train (CV on the training parts), quantize, score the held-out windows once."""
    recordings = load_cwru((data or data_dir()) / "CWRU_bearing")
    model, report, test = train_classifier(
        recordings,
        configs=GRID,
        window=_WINDOW,
        stride=_STRIDE,
        folds=_FOLDS,
        train_fraction=_TRAIN,
        seed=0,
        source="CWRU_bearing",
        progress=progress,
    )
    classes = model.classes
    train = train_folds(
        recordings, classes, train_fraction=_TRAIN, folds=1, window=_WINDOW, stride=_STRIDE
    )[0]
    small = quantize_int8(model, calibration=train.x)
    noisy = add_noise(test.x, snr_db=0.0, seed=0)
    counts = small.quantize_input(test.x)
    result: dict[str, Any] = {
        "cwru_acc_float": float(np.mean(model.predict(test.x) == test.y)),
        "cwru_acc_int8": float(np.mean(small.predict(counts) == test.y)),
        "cwru_acc_noisy_float": float(np.mean(model.predict(noisy) == test.y)),
        "cwru_acc_noisy_int8": float(np.mean(small.predict(noisy) == test.y)),
        "float_bytes": model.artifact.size_bytes(),
        "int8_bytes": small.artifact.size_bytes(),
        "size_ratio_int8": model.artifact.size_bytes() / small.artifact.size_bytes(),
        "train_windows": report.train_windows,
        "test_windows": report.test_windows,
        "chosen": asdict(report.best.config),
        "cv_scores": [
            {**asdict(s.config), "cv_clean": s.clean, "cv_noisy_0db": s.noisy}
            for s in report.scores
        ],
    }
    if shutil.which("gcc"):
        with tempfile.TemporaryDirectory() as tmp:
            c_float, logits_float = c_outputs(model, test.x, Path(tmp) / "float")
            c_int, logits_int = c_outputs(small, counts, Path(tmp) / "int8")
        result["c_float_classes_match"] = float(
            np.mean(c_float == model.predict(test.x.astype(np.float32)))
        )
        result["c_float_max_logit_error"] = float(
            np.max(np.abs(logits_float - model.logits(test.x)))
        )
        result["c_int8_bit_exact"] = bool(
            np.array_equal(c_int, small.predict(counts))
            and np.array_equal(logits_int, small.logits(counts))
        )
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        with tempfile.TemporaryDirectory() as tmp:
            m4 = run_on_m4(small, counts, Path(tmp))
        result["m4_flash_bytes"] = m4.flash_bytes
        result["m4_ram_bytes"] = m4.ram_bytes
        result["qemu_outputs_match"] = bool(
            np.array_equal(m4.classes, small.predict(counts))
            and np.array_equal(m4.logits, small.logits(counts))
        )
        result.update(_m4_float_and_emlearn(model, test.x, test.y))
    result.update(run_adaptation(data=data, progress=progress))
    return result


def _m4_float_and_emlearn(
    model: Model, windows: npt.NDArray[Any], labels: npt.NDArray[Any]
) -> dict[str, Any]:
    """Our float firmware and emlearn's MLP behind the same front end, on the same windows."""
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_on_m4(model, windows, Path(tmp))
    out: dict[str, Any] = {
        "m4_float_flash_bytes": ours.flash_bytes,
        "m4_float_ram_bytes": ours.ram_bytes,
        "m4_float_acc": float(np.mean(ours.classes == labels)),
    }
    if importlib.util.find_spec("emlearn") is None:
        return out  # an optional bench dependency: pip install 'edgewise[bench]'
    with tempfile.TemporaryDirectory() as tmp:
        theirs = run_on_m4(
            model,
            windows,
            Path(tmp),
            source=emlearn_source(model),
            include=[emlearn_include()],
        )
    return out | {
        "emlearn_version": emlearn_version(),
        "emlearn_model": "float32 MLP (emlearn has no int8 network), our float front end",
        "emlearn_flash_bytes": theirs.flash_bytes,
        "emlearn_ram_bytes": theirs.ram_bytes,
        "emlearn_acc": float(np.mean(theirs.classes == labels)),
        "emlearn_classes_match_float": float(np.mean(theirs.classes == model.predict(windows))),
    }
