"""The data-quality benchmark: its bars on the real data, and the honesty of its parts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import need_dataset
from edgewise.bench.quality import _features, run_quality
from edgewise.bench.quality._fusion import NOISE_STDS, simulate
from edgewise.bench.quality._impute import (
    BURST_LENGTHS,
    MASK_FRACTION,
    TUNING_ROWS,
    _bursts,
    _mask,
    _single,
)

IMPUTERS = {"last_value", "seasonal", "kalman", "regression", "change_regression", "linear"}


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    for name in ("BeijingAirQuality", "CWRU_bearing", "IntelLab_preprocessed"):
        folder = need_dataset(name)
    # The short version: the tuning year and the first test year of each station.
    return run_quality(data=folder.parent, seed=0, impute_rows=2 * TUNING_ROWS)


def test_meets_the_bars_on_the_real_data(result: dict[str, Any]) -> None:
    assert result["seed"] == 0
    assert result["impute_mae_ratio_vs_last"] <= 0.85
    assert 0.93 <= result["fusion_coverage_95"] <= 0.97
    assert result["features_match"] is True
    assert "cwru" in result["features_signals"]
    assert {"spike_f1", "flatline_f1", "spike_precision", "flatline_recall"} <= set(result)
    json.dumps(result)


def test_imputation_without_hindsight_beats_last_value(result: dict[str, Any]) -> None:
    # The bar holds on the held-out year alone, with the imputer chosen on the tuning year.
    assert result["impute_test_mae_ratio_vs_last"] <= 0.85
    assert result["impute_best"] == result["impute_test_best"] == "change_regression"
    no_delay = result["impute_ratio_vs_last"]["no_delay"]
    assert no_delay["change_regression"] == result["impute_mae_ratio_vs_last"]
    for gap, ratios in result["impute_test_gap_ratio_vs_last"].items():
        assert ratios["no_delay"]["change_regression"] <= 0.85, gap
    # On a dataset never used for tuning, it does no worse than the last value.
    assert result["impute_intel_ratio_vs_last"]["no_delay"]["change_regression"] <= 1.0


def test_reports_every_imputer_apart_by_delay(result: dict[str, Any]) -> None:
    assert result["impute_delay_readings"] == {name: 0 for name in IMPUTERS} | {"linear": 24}
    for key in ("impute_ratio_vs_last", "impute_mae_normalised", "impute_intel_ratio_vs_last"):
        assert set(result[key]["waiting"]) == {"linear"}
        assert set(result[key]["no_delay"]) == IMPUTERS - {"linear"}
    gaps = result["impute_gap_ratio_vs_last"]
    assert list(gaps) == ["1", "2-3", "4-7", "8-15", "16-31", "32-48"]
    assert all(ratios["no_delay"]["last_value"] == 1.0 for ratios in gaps.values())
    assert min(result["impute_gap_cells"].values()) > 1000
    parts = result["impute_tuning_masked_cells"] + result["impute_test_masked_cells"]
    assert parts == result["impute_masked_cells"] > 50_000


def test_masks_a_tenth_of_each_columns_present_values() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(0.0, 1.0, (1000, 3))
    X[rng.random(X.shape) < 0.2] = np.nan
    mask = _mask(X, np.random.default_rng(1))
    assert not np.any(mask & np.isnan(X))
    present = np.sum(~np.isnan(X), axis=0)
    np.testing.assert_array_equal(mask.sum(axis=0), np.round(MASK_FRACTION * present))
    assert not np.array_equal(mask, _mask(X, np.random.default_rng(2)))


def test_bursts_are_whole_gaps_of_the_stated_lengths() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(0.0, 1.0, (5000, 2))
    X[rng.random(X.shape) < 0.02] = np.nan
    mask, length = _bursts(X, np.random.default_rng(1))
    assert not np.any(mask & np.isnan(X))
    assert np.array_equal(mask, length > 0)
    present = np.sum(~np.isnan(X), axis=0)
    assert np.all(np.abs(mask.sum(axis=0) / present - MASK_FRACTION) < 0.01)
    for j in range(2):
        edges = np.diff(np.concatenate([[0], mask[:, j].astype(int), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        assert np.array_equal(ends - starts, length[starts, j])  # one run, one length
        assert BURST_LENGTHS[0] <= (ends - starts).min() and (ends - starts).max() <= 48
        assert not np.isnan(X[starts - 1, j]).any() and not np.isnan(X[ends, j]).any()
    assert not np.array_equal(mask, _bursts(X, np.random.default_rng(2))[0])


def test_single_cells_are_gaps_of_one() -> None:
    missing = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [0, 0], [1, 1]], dtype=np.bool_)
    expected = np.array([[1, 0], [0, 0], [0, 0], [0, 0], [0, 0], [1, 1]], dtype=np.bool_)
    np.testing.assert_array_equal(_single(missing), expected)


def test_simulated_sensors_have_the_stated_noise() -> None:
    truth, readings = simulate(seed=3, n=20_000)
    stds = np.sort(np.nanstd(readings - truth[:, None], axis=0))
    np.testing.assert_allclose(stds, NOISE_STDS, rtol=0.03)
    assert np.mean(np.isnan(readings)) == pytest.approx(0.1, abs=0.01)


def test_features_check_catches_a_different_convention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _features.features_check(tmp_path)["features_match"] is True
    reference = _features.reference_features

    def fisher(x: np.ndarray, **kwargs: Any) -> dict[str, float]:
        features = reference(x, **kwargs)
        return features | {"kurtosis": features["kurtosis"] - 3.0}

    monkeypatch.setattr(_features, "reference_features", fisher)
    assert _features.features_check(tmp_path)["features_match"] is False
