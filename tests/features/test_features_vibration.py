from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from edgewise.features import VibrationFeatures, vibration_features
from edgewise.stream import Reading

BANDS = [(0.0, 75.0), (75.0, 125.0), (125.0, 601.0)]


@pytest.mark.parametrize(("amplitude", "frequency"), [(1.0, 50.0), (3.0, 100.0), (0.2, 150.0)])
def test_a_pure_sine_has_its_closed_forms(amplitude: float, frequency: float) -> None:
    # A whole number of periods, at least 8 samples each, one of them at the peak.
    t = np.arange(1200) / 1200.0
    features = vibration_features(
        amplitude * np.sin(2 * np.pi * frequency * t), sample_rate=1200.0, bands=BANDS
    )
    assert features["rms"] == pytest.approx(amplitude / math.sqrt(2), rel=1e-12)
    assert features["kurtosis"] == pytest.approx(1.5, rel=1e-9)
    assert features["crest_factor"] == pytest.approx(math.sqrt(2), rel=1e-9)
    powers = [features[f"band_{lo:g}_{hi:g}"] for lo, hi in BANDS]
    band = next(k for k, (lo, hi) in enumerate(BANDS) if lo <= frequency < hi)
    assert powers[band] == pytest.approx(amplitude**2 / 2, rel=1e-9)
    assert sum(powers) - powers[band] == pytest.approx(0.0, abs=1e-20 + 1e-12 * amplitude**2)


@pytest.mark.parametrize("n", [1000, 1001])
def test_band_powers_add_up_to_the_mean_square(n: int) -> None:
    x = np.random.default_rng(0).normal(1.0, 2.0, n)
    features = vibration_features(x, sample_rate=1200.0, bands=BANDS)
    total = sum(features[f"band_{lo:g}_{hi:g}"] for lo, hi in BANDS)
    assert total == pytest.approx(features["rms"] ** 2, rel=1e-12)
    assert features["kurtosis"] == pytest.approx(scipy.stats.kurtosis(x, fisher=False), rel=1e-12)


def test_a_constant_has_no_kurtosis() -> None:
    features = vibration_features(np.zeros(8), sample_rate=8.0, bands=[])
    assert features["rms"] == 0.0
    assert math.isnan(features["kurtosis"]) and math.isnan(features["crest_factor"])
    with pytest.raises(ValueError, match="1-D"):
        vibration_features(np.zeros((2, 2)), sample_rate=8.0, bands=[])


def test_the_step_emits_once_per_hop_over_the_last_window() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, 100)
    x[30] = math.nan  # skipped
    step = VibrationFeatures(input="acc", window=16, hop=8, sample_rate=100.0, bands=[(0, 10)])
    emitted = [step.update(Reading("m", float(i), {"acc": v})) for i, v in enumerate(x)]
    assert all(len(e) <= 1 for e in emitted)
    present = x[~np.isnan(x)]
    when = [i for i, e in enumerate(emitted) if e]
    assert len(when) == 1 + (present.size - 16) // 8
    last = emitted[when[-1]][0]
    end = int(np.sum(~np.isnan(x[: when[-1] + 1])))
    expected = vibration_features(present[end - 16 : end], sample_rate=100.0, bands=[(0, 10)])
    assert last.values == {f"acc_{k}": v for k, v in expected.items()}
    assert last.timestamp == float(when[-1])


def test_the_step_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="hop"):
        VibrationFeatures(input="acc", hop=0).update(Reading("m", 0.0, {"acc": 1.0}))
    with pytest.raises(ValueError, match="bands"):
        VibrationFeatures(input="acc", bands=[(5.0, 1.0)]).update(Reading("m", 0.0, {"acc": 1.0}))
