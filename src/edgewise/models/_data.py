"""Labelled recordings of raw samples, and windows cut from them without leaks.

Each recording is split in time: its first ``train_fraction`` for training, the rest for
test, so no test window shares a sample with a training window. Cross-validation folds are
contiguous blocks of each recording's training part, and only windows lying wholly inside a
block are used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "Recording",
    "Windows",
    "add_noise",
    "cut",
    "held_out_windows",
    "load_cwru",
    "load_table",
    "train_folds",
]

_CWRU_CLASS = re.compile(r"(normal|B007|B014|B021|IR007|IR014|IR021|OR007|OR014|OR021)")


@dataclass(frozen=True)
class Recording:
    """One labelled signal (``samples`` in its unit, at ``sample_rate`` Hz)."""

    name: str
    label: str
    samples: npt.NDArray[np.float64]
    sample_rate: float


@dataclass(frozen=True)
class Windows:
    """Windows (rows) with their class indices and the recording each came from."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    recording: npt.NDArray[np.int64]


def load_cwru(folder: Path) -> list[Recording]:
    """The 10-class CWRU set at 0 HP: drive-end samples (g) at 12 kHz, one recording a file."""
    from scipy.io import loadmat

    files = sorted(folder.glob("*.mat"))
    if not files:
        raise FileNotFoundError(f"no CWRU .mat files in {folder}")
    recordings = []
    for path in files:
        match = _CWRU_CLASS.search(path.name)
        if match is None:
            raise ValueError(f"{path.name}: cannot tell its class from its name")
        number = path.stem.rsplit("_", 1)[-1]
        content = loadmat(path)
        key = f"X{int(number):03d}_DE_time"
        recordings.append(
            Recording(
                name=path.stem,
                label=match.group(1),
                samples=content[key].ravel().astype(np.float64),
                sample_rate=12_000.0,
            )
        )
    return recordings


def load_table(
    path: Path, *, recording: str, label: str, value: str, sample_rate: float
) -> list[Recording]:
    """Recordings from a CSV or Parquet file of samples in time order (one sample a row)."""
    import pandas as pd

    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [c for c in (recording, label, value) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: no column {', '.join(missing)} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    out = []
    for name, rows in frame.groupby(recording, sort=True):
        labels = rows[label].unique()
        if len(labels) != 1:
            raise ValueError(f"{path}: recording {name} has {len(labels)} labels, expected one")
        samples = rows[value].to_numpy(dtype=np.float64)
        if not np.isfinite(samples).all():
            raise ValueError(f"{path}: recording {name} has missing or infinite values")
        out.append(
            Recording(
                name=str(name), label=str(labels[0]), samples=samples, sample_rate=sample_rate
            )
        )
    return out


def cut(signal: npt.NDArray[np.float64], *, window: int, stride: int) -> npt.NDArray[np.float64]:
    """Windows of ``signal`` starting every ``stride`` samples (whole windows only).

    >>> cut(np.arange(10.0), window=4, stride=3).tolist()
    [[0.0, 1.0, 2.0, 3.0], [3.0, 4.0, 5.0, 6.0], [6.0, 7.0, 8.0, 9.0]]
    """
    count = max(0, (len(signal) - window) // stride + 1)
    if count == 0:
        return np.empty((0, window))
    return np.lib.stride_tricks.sliding_window_view(signal, window)[::stride][:count].copy()


def _windows(
    parts: Sequence[tuple[npt.NDArray[np.float64], int, int]], window: int, stride: int
) -> Windows:
    xs, ys, rs = [], [], []
    for signal, label, index in parts:
        w = cut(signal, window=window, stride=stride)
        xs.append(w)
        ys.append(np.full(len(w), label))
        rs.append(np.full(len(w), index))
    return Windows(
        x=np.concatenate(xs),
        y=np.concatenate(ys).astype(np.int64),
        recording=np.concatenate(rs).astype(np.int64),
    )


def _train_end(recording: Recording, train_fraction: float) -> int:
    if not 0 < train_fraction < 1:
        raise ValueError(f"the train fraction must lie in (0, 1), got {train_fraction}")
    return int(len(recording.samples) * train_fraction)


def train_folds(
    recordings: Sequence[Recording],
    classes: Sequence[str],
    *,
    train_fraction: float,
    folds: int,
    window: int,
    stride: int,
) -> list[Windows]:
    """The training part of every recording cut into ``folds`` contiguous blocks: fold k holds
    the windows of block k of each recording (``folds=1``: all training windows)."""
    out = []
    for k in range(folds):
        parts = []
        for i, rec in enumerate(recordings):
            end = _train_end(rec, train_fraction)
            lo, hi = end * k // folds, end * (k + 1) // folds
            parts.append((rec.samples[lo:hi], classes.index(rec.label), i))
        out.append(_windows(parts, window, stride))
    return out


def held_out_windows(
    recordings: Sequence[Recording], classes: Sequence[str], *, train_fraction: float, window: int
) -> Windows:
    """Non-overlapping windows of the held-out end of every recording."""
    parts = [
        (rec.samples[_train_end(rec, train_fraction) :], classes.index(rec.label), i)
        for i, rec in enumerate(recordings)
    ]
    return _windows(parts, window, window)


def add_noise(
    x: npt.NDArray[np.float64], *, snr_db: float | npt.NDArray[np.float64], seed: int
) -> npt.NDArray[np.float64]:
    """White Gaussian noise added to each window (row) at ``snr_db`` of that window's power.

    >>> x = np.ones((2, 10_000))
    >>> noisy = add_noise(x, snr_db=0.0, seed=0)
    >>> round(float(np.var(noisy - x)), 1)
    1.0
    """
    power = np.mean(x**2, axis=1, keepdims=True) / 10 ** (np.asarray(snr_db) / 10)
    noise = np.random.default_rng(seed).normal(size=x.shape) * np.sqrt(power)
    return np.asarray(x + noise, dtype=np.float64)
