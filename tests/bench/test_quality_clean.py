"""The cleaning benchmark: honest fault injection, and the bars on the Intel Lab motes."""

from __future__ import annotations

import numpy as np

from conftest import need_dataset
from edgewise.bench.quality._clean import (
    READINGS_PER_SPIKE,
    SPIKE_SIZE,
    STUCK_LENGTH,
    clean_scores,
    inject_spikes,
    inject_stuck,
)


def _series(n: int = 144, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 20.0 + np.cumsum(rng.normal(0.0, 0.2, n))


def test_spikes_are_isolated_and_sized_in_standard_deviations_of_the_changes() -> None:
    rng = np.random.default_rng(0)
    for seed in range(20):
        x = _series(seed=seed)
        y, labels = inject_spikes(x, rng)
        where = np.flatnonzero(labels)
        assert len(where) == round(len(x) / READINGS_PER_SPIKE)
        assert where.min() >= 1 and where.max() <= len(x) - 2 and np.diff(where).min() >= 2
        size = np.abs(y - x)[where] / np.std(np.diff(x))
        assert np.all((size >= SPIKE_SIZE[0]) & (size <= SPIKE_SIZE[1]))
        assert np.array_equal(y[~labels], x[~labels])


def test_a_stuck_run_repeats_a_genuine_reading() -> None:
    rng = np.random.default_rng(1)
    for seed in range(20):
        x = _series(seed=seed)
        y, labels = inject_stuck(x, rng)
        where = np.flatnonzero(labels)
        assert STUCK_LENGTH[0] <= len(where) <= STUCK_LENGTH[1]
        assert np.all(np.diff(where) == 1) and where[0] >= 1
        assert np.all(y[where] == x[where[0] - 1]) and not labels[where[0] - 1]
        assert np.array_equal(y[~labels], x[~labels])


def test_bars_on_the_intel_lab_motes() -> None:
    folder = need_dataset("IntelLab_preprocessed")
    scores = clean_scores(folder.parent, seed=0)
    assert scores["spike_faults"] == 500 and scores["flatline_faults"] > 200 * STUCK_LENGTH[0]
    assert scores["spike_f1"] >= 0.9, scores
    assert scores["flatline_f1"] >= 0.9, scores
    assert (
        min(scores[f"{k}_{m}"] for k in ("spike", "flatline") for m in ("precision", "recall"))
        > 0.85
    )
