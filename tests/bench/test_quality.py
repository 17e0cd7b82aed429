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
from edgewise.bench.quality._impute import MASK_FRACTION, _mask


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    for name in ("BeijingAirQuality", "CWRU_bearing", "IntelLab_preprocessed"):
        folder = need_dataset(name)
    return run_quality(data=folder.parent, seed=0)


def test_meets_the_bars_on_the_real_data(result: dict[str, Any]) -> None:
    assert result["seed"] == 0
    assert result["impute_mae_ratio_vs_last"] <= 0.8
    assert 0.93 <= result["fusion_coverage_95"] <= 0.97
    assert result["features_match"] is True
    assert "cwru" in result["features_signals"]
    assert {"spike_f1", "flatline_f1", "spike_precision", "flatline_recall"} <= set(result)
    json.dumps(result)


def test_reports_every_imputer_and_its_delay(result: dict[str, Any]) -> None:
    imputers = {"last_value", "linear", "seasonal", "kalman", "regression"}
    assert set(result["impute_mae_normalised"]) == imputers
    assert result["impute_delay_readings"] == {name: 0 for name in imputers} | {"linear": 24}
    best = min(result["impute_mae_normalised"].values())
    assert (
        result["impute_mae_ratio_vs_last"] == best / result["impute_mae_normalised"]["last_value"]
    )
    assert result["impute_masked_cells"] > 100_000


def test_masks_a_tenth_of_each_columns_present_values() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(0.0, 1.0, (1000, 3))
    X[rng.random(X.shape) < 0.2] = np.nan
    mask = _mask(X, np.random.default_rng(1))
    assert not np.any(mask & np.isnan(X))
    present = np.sum(~np.isnan(X), axis=0)
    np.testing.assert_array_equal(mask.sum(axis=0), np.round(MASK_FRACTION * present))
    assert not np.array_equal(mask, _mask(X, np.random.default_rng(2)))


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
