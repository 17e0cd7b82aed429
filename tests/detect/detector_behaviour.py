"""Behaviour every calibrated detector must show, shared by the per-detector test files.

Each check takes a factory ``make(**overrides) -> Detector`` and the size (in spreads of the
inputs) of a deviation the detector must flag. The stream: three independent standard normal
inputs ``a``, ``b``, ``c``; faults and spikes go into ``b``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from edgewise.detect import CalibratedDetector

Make = Callable[..., CalibratedDetector]
COLUMNS = ["a", "b", "c"]
NORMAL = 600  # readings before anything happens: past every default warmup but River's


def stream(n: int, *, seed: int = 0) -> NDArray[np.float64]:
    return np.random.default_rng(seed).normal(0.0, 1.0, (n, len(COLUMNS)))


def check_spike(make: Make, size: float) -> None:
    """A spike in ``b`` is flagged with a high score, and the explanation names ``b``."""
    X = stream(NORMAL + 1)
    X[-1, 1] += size
    found = make().detect_many(X, COLUMNS)
    assert found.scores[-1] >= 0.5 and found.is_anomaly[-1]
    assert found.scores[-1] > np.quantile(found.scores[:-1], 0.99)
    explanation = found.explanations[-1]
    assert explanation is not None and explanation.input == "b"
    assert explanation.value == X[-1, 1] and explanation.deviation > 0.0


def _fault(make: Make, size: float, length: int, **overrides: Any) -> NDArray[np.bool_]:
    X = stream(NORMAL + length + 200, seed=1)
    X[NORMAL : NORMAL + length, 1] += size
    return make(**overrides).detect_many(X, COLUMNS).is_anomaly


def check_long_fault_not_learned(make: Make, size: float, length: int = 150) -> None:
    """By default a fault shorter than ``relearn_after`` stays flagged to its end, then clears."""
    flags = _fault(make, size, length)
    assert flags[NORMAL + length - 20 : NORMAL + length].all()
    assert flags[NORMAL + length + 50 :].mean() <= 0.05


def check_learn_anomalies(make: Make, size: float, length: int = 400) -> None:
    """With ``learn_anomalies=True`` the detector learns the fault: flags stop before it ends."""
    gated = _fault(make, size, length, relearn_after=None)
    learned = _fault(make, size, length, relearn_after=None, learn_anomalies=True)
    end = NORMAL + length
    assert gated[end - 50 : end].all()
    assert learned[end - 50 : end].mean() <= 0.2


def check_warmup(make: Make, size: float) -> None:
    """The first ``warmup`` readings are never flagged, however abnormal."""
    detector = make()
    X = stream(detector.warmup + 50, seed=2)
    X[5 : detector.warmup : 7, 1] += 3.0 * size
    flags = detector.detect_many(X, COLUMNS).is_anomaly
    assert not flags[: detector.warmup].any()


def check_recovery(make: Make, size: float, caplog: pytest.LogCaptureFixture) -> None:
    """Once 90% of the last ``relearn_after`` readings were flagged the detector re-baselines, and
    says so; so a shift that some readings do not show is taken as the new normal as soon."""
    X = stream(NORMAL + 1000, seed=3)
    X[NORMAL:, 1] += 2.0 * size
    X[NORMAL + 9 : NORMAL + 50 : 10, 1] -= 2.0 * size  # every tenth reading back to normal
    detector = make(relearn_after=60)
    with caplog.at_level(logging.WARNING, logger="edgewise.detect"):
        flags = detector.detect_many(X, COLUMNS).is_anomaly
    assert detector.n_relearns_ == 1
    assert flags[NORMAL : NORMAL + 50].sum() >= 45
    # Counting consecutive flags instead would go on flagging until reading 110.
    assert flags[NORMAL + 60 : NORMAL + 300].mean() <= 0.05
    assert flags[NORMAL + 300 :].mean() <= 0.05
    assert "taking them as the new normal" in caplog.text


def check_missing(make: Make, size: float) -> None:
    """Missing values do not break anything; a spike among missing values is still found."""
    X = stream(NORMAL + 1, seed=4)
    rng = np.random.default_rng(4)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[-1] = [np.nan, size, np.nan]
    found = make().detect_many(X, COLUMNS)
    assert np.all(np.isfinite(found.scores))
    assert found.is_anomaly[-1]
    explanation = found.explanations[-1]
    assert explanation is not None and explanation.input == "b"


BEHAVIOURS = [
    check_spike,
    check_long_fault_not_learned,
    check_learn_anomalies,
    check_warmup,
    check_missing,
]


def check_single_input_noise(make: Make, n: int, most_flags: int) -> None:
    """On one input of N(0, 1) noise, at most ``most_flags`` readings after the first 1000."""
    X = np.random.default_rng(0).normal(size=(n, 1))
    assert make().detect_many(X).is_anomaly[1000:].sum() <= most_flags


def check_single_input_spikes(make: Make) -> None:
    """At least 90% of 6-spread spikes on one input are flagged."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 1))
    at = np.arange(1000, 3000, 50)
    X[at, 0] += 6.0 * rng.choice([-1.0, 1.0], len(at))
    assert make().detect_many(X).is_anomaly[at].mean() >= 0.9
