"""Features benchmark: vibration features against an independent scipy reference."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import scipy.signal
import scipy.stats

from edgewise.features import VibrationFeatures, vibration_features
from edgewise.features.vibration import Band, band_name
from edgewise.stream import Array, Reading

__all__ = ["CWRU_FILE", "features_check", "reference_features"]

CWRU_FILE = "12k_Drive_End_IR007_0_105.mat"
"""The real segment: drive-end accelerometer, inner-race fault of 0.007 in, 12 kHz."""

_TOLERANCE = 1e-9
_WINDOW, _HOP = 1024, 512


def reference_features(x: Array, *, sample_rate: float, bands: list[Band]) -> dict[str, float]:
    """The same features from scipy: moments from scipy.stats, band powers from a periodogram.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(0.0, 1.0, 4096)
    >>> ours = vibration_features(x, sample_rate=100.0, bands=[(0, 20)])
    >>> theirs = reference_features(x, sample_rate=100.0, bands=[(0, 20)])
    >>> _same(ours, theirs)
    True
    """
    rms = float(np.sqrt(np.mean(np.square(x))))
    freqs, spectrum = scipy.signal.periodogram(
        x, fs=sample_rate, window="boxcar", detrend=False, scaling="spectrum"
    )
    features = {
        "rms": rms,
        "kurtosis": float(scipy.stats.kurtosis(x, fisher=False, bias=True)),
        "crest_factor": float(np.max(np.abs(x))) / rms,
    }
    for low, high in bands:
        features[band_name((low, high))] = float(spectrum[(freqs >= low) & (freqs < high)].sum())
    return features


def _synthetic(seed: int) -> list[tuple[str, Array, float]]:
    """Seeded signals: noise, harmonics, and bearing-like impulses ringing a resonance."""
    rng = np.random.default_rng(seed)
    fs = 12_000.0
    t = np.arange(4096 + int(rng.integers(1, 64))) / fs  # a length that is no power of two
    harmonics = sum(rng.uniform(0.1, 1.0) * np.sin(2 * np.pi * f * t) for f in (30.0, 60.0, 157.0))
    impulses = np.zeros_like(t)
    impulses[:: int(fs / 162.0)] = 1.0
    ringing = scipy.signal.lfilter([1.0], [1.0, -1.8 * math.cos(0.6), 0.81], impulses)
    return [
        ("noise", rng.normal(0.0, 1.0, t.size), fs),
        ("harmonics", harmonics + rng.normal(0.0, 0.05, t.size), fs),
        ("impulses", ringing + rng.normal(0.0, 0.1, t.size), fs),
    ]


def _cwru(folder: Path) -> Array | None:
    path = folder / CWRU_FILE
    if not path.is_file():
        return None
    mat = scipy.io.loadmat(path)
    key = next(k for k in mat if k.endswith("_DE_time"))
    return np.asarray(mat[key], dtype=np.float64).ravel()[: 8 * _WINDOW]


def _same(ours: dict[str, float], reference: dict[str, float]) -> bool:
    return ours.keys() == reference.keys() and all(
        abs(ours[k] - reference[k]) <= _TOLERANCE * max(1.0, abs(reference[k])) for k in ours
    )


def _step_windows(signal: Array, sample_rate: float, bands: list[Band]) -> tuple[int, bool]:
    """Run the streaming step over the signal; compare each window it emits with the reference."""
    step = VibrationFeatures(
        input="acc", window=_WINDOW, hop=_HOP, sample_rate=sample_rate, bands=bands
    )
    emitted = [
        out
        for i, value in enumerate(signal.tolist())
        for out in step.update(Reading("bench", i / sample_rate, {"acc": value}))
    ]
    ok = True
    for k, reading in enumerate(emitted):
        window = signal[k * _HOP : k * _HOP + _WINDOW]
        reference = reference_features(window, sample_rate=sample_rate, bands=bands)
        ours = {name.removeprefix("acc_"): v for name, v in reading.values.items()}
        ok &= _same(ours, reference)
    return len(emitted), ok


def features_check(folder: Path, *, seed: int = 0) -> dict[str, Any]:
    """Whether :func:`vibration_features` and :class:`VibrationFeatures` equal the reference.

    On three seeded synthetic signals (whole signal through the function, and every window the
    streaming step emits) and, when ``folder`` holds it, on the first 8192 samples of
    :data:`CWRU_FILE`; equal means within ``1e-9`` (relative above 1).
    """
    bands: list[Band] = [(0.0, 500.0), (500.0, 2000.0), (2000.0, 4000.0), (4000.0, 6001.0)]
    signals = _synthetic(seed)
    real = _cwru(folder)
    if real is not None:
        signals.append(("cwru", real, 12_000.0))
    ok, windows = True, 0
    for _, signal, fs in signals:
        whole = vibration_features(signal, sample_rate=fs, bands=bands)
        ok &= _same(whole, reference_features(signal, sample_rate=fs, bands=bands))
        count, same = _step_windows(signal, fs, bands)
        windows += count
        ok &= same
    return {
        "features_match": bool(ok),
        "features_signals": [name for name, _, _ in signals],
        "features_windows_compared": windows,
    }
