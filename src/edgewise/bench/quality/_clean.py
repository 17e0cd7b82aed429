"""Cleaning benchmark: spikes and stuck runs injected into the Intel Berkeley Lab motes.

Data: ``IntelLab_preprocessed`` (Madden et al., Intel Berkeley Research Lab): temperature and
humidity of 50 motes at 30-minute steps, in a train file (144 steps) and a test file (96 steps)
per quantity. Each mote's stretch of each file is one stream of readings with two values,
``temperature`` and ``humidity``; a *series* is one value of one stream (200 series, 24,000
values). The two files are not known to be contiguous, so they are not joined.

Faults, drawn from ``seed``, in two separate scenarios, each on a clean copy of the data:

* **Spikes**: one per 48 readings of each series (one a day: 3 in a train series, 2 in a test
  series), at readings that have both neighbours, never two side by side. A spike adds ``a *
  sd`` with ``a`` uniform in [4, 10], a random sign, and ``sd`` the standard deviation of the
  series' own changes between consecutive readings. It is a standard deviation, not a robust
  spread, on purpose: these series move in steps (heating, daylight) and 12% of their changes
  exceed 4 robust spreads (1.4826 MAD) of the changes, so an excursion of 4 to 10 robust spreads
  is the size of the data's own movements (0.8% of clean readings stand out from both
  neighbours by more than 4 robust spreads). In standard deviations, no clean reading stands
  out from both its neighbours by 4 (the largest by 3.997; 0.06% by more than 3).
* **Stuck runs**: one per series: the sensor repeats the value of a random reading for the next
  ``L`` readings, ``L`` uniform in 6..30 (3 to 15 hours). The ``L`` repeats are the faulty
  values; the reading repeated is genuine.

Each stream runs through :class:`~edgewise.clean.Hampel` (spike scenario) or
:class:`~edgewise.clean.Flatline` (stuck scenario) with default parameters, one fresh instance
per stream, through ``faults_many`` (the streaming path, then flush). Precision, recall and F1
are point-wise, pooled over all values; every value of the data counts, including each stream's
first readings (warm-up) and the genuine spike-like and flat stretches of the clean data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from edgewise.clean import Flatline, Hampel
from edgewise.stream import Array

__all__ = [
    "COLUMNS",
    "READINGS_PER_SPIKE",
    "SPIKE_SIZE",
    "STUCK_LENGTH",
    "clean_scores",
    "inject_spikes",
    "inject_stuck",
    "load_streams",
]

COLUMNS = ("temperature", "humidity")
_FILES = {"temperature": "intelTemperature{}.csv", "humidity": "intelHumidity{}.csv"}
_SPLITS = ("Train", "Test")

READINGS_PER_SPIKE = 48
"""One spike per this many readings of a series (a day of 30-minute readings)."""
SPIKE_SIZE = (4.0, 10.0)
"""Spike size range, in standard deviations of the series' changes between readings."""
STUCK_LENGTH = (6, 30)
"""Repeated readings of a stuck run, smallest and largest (inclusive)."""

Mask = NDArray[np.bool_]


def load_streams(folder: Path) -> list[Array]:
    """One ``(steps, 2)`` array (temperature, humidity) per mote and file."""
    streams: list[Array] = []
    for split in _SPLITS:
        quantities = [
            np.loadtxt(folder / _FILES[c].format(split), delimiter=",", dtype=np.float64)
            for c in COLUMNS
        ]
        streams.extend(np.stack([q[mote] for q in quantities], axis=1) for mote in range(50))
    return streams


def inject_spikes(x: Array, rng: np.random.Generator) -> tuple[Array, Mask]:
    """``x`` with isolated spikes (see the module's description) and their mask."""
    n = len(x)
    y, labels = x.copy(), np.zeros(n, dtype=np.bool_)
    sd = float(np.std(np.diff(x)))
    wanted = round(n / READINGS_PER_SPIKE)
    for t in rng.permutation(np.arange(1, n - 1)):
        if labels.sum() == wanted:
            break
        if not labels[t - 1 : t + 2].any():
            labels[t] = True
            y[t] += rng.choice([-1.0, 1.0]) * rng.uniform(*SPIKE_SIZE) * sd
    return y, labels


def inject_stuck(x: Array, rng: np.random.Generator) -> tuple[Array, Mask]:
    """``x`` with one stuck run (see the module's description) and its mask."""
    n = len(x)
    y, labels = x.copy(), np.zeros(n, dtype=np.bool_)
    length = int(rng.integers(STUCK_LENGTH[0], STUCK_LENGTH[1] + 1))
    start = int(rng.integers(0, n - length))
    y[start + 1 : start + length + 1] = x[start]
    labels[start + 1 : start + length + 1] = True
    return y, labels


def _prf(prefix: str, found: Mask, labels: Mask) -> dict[str, float]:
    tp = int(np.sum(found & labels))
    precision = tp / max(int(found.sum()), 1)
    recall = tp / max(int(labels.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {
        f"{prefix}_precision": precision,
        f"{prefix}_recall": recall,
        f"{prefix}_f1": f1,
        f"{prefix}_faults": float(labels.sum()),
    }


def clean_scores(data: Path, *, seed: int = 0) -> dict[str, float]:
    """Point-wise precision, recall and F1 of Hampel on spikes and Flatline on stuck runs.

    ``data`` is the datasets folder (holding ``IntelLab_preprocessed/``). Returns
    ``spike_precision``, ``spike_recall``, ``spike_f1``, ``spike_faults`` (values injected) and
    the same for ``flatline``. Bars: ``spike_f1 >= 0.9``, ``flatline_f1 >= 0.9``. About a second.
    """
    folder = Path(data) / "IntelLab_preprocessed"
    if not folder.is_dir():
        raise FileNotFoundError(f"no IntelLab_preprocessed folder in {data}")
    rng = np.random.default_rng(seed)
    found: dict[str, list[Mask]] = {"spike": [], "flatline": []}
    truth: dict[str, list[Mask]] = {"spike": [], "flatline": []}
    for X in load_streams(folder):
        for name, inject, check in (
            ("spike", inject_spikes, Hampel()),
            ("flatline", inject_stuck, Flatline()),
        ):
            pairs = [inject(X[:, j], rng) for j in range(X.shape[1])]
            faulty = np.column_stack([y for y, _ in pairs])
            truth[name].append(np.column_stack([m for _, m in pairs]))
            found[name].append(check.faults_many(faulty, COLUMNS))
    scores: dict[str, float] = {}
    for name in found:
        scores.update(_prf(name, np.concatenate(found[name]), np.concatenate(truth[name])))
    return scores
