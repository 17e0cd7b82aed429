from __future__ import annotations

import math

import numpy as np

from edgewise.impute import Kalman, LastValue


def test_tracks_a_trend_through_a_gap() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(600, dtype=np.float64)
    line = 3.0 + 0.5 * t
    X = (line + rng.normal(0.0, 1.0, t.size))[:, None]
    X[500:520] = math.nan
    imputer = Kalman()
    out = imputer.learn_transform_many(X, ["x"])[:, 0]
    track = imputer.tracks_["x"]
    assert abs(track.slope - 0.5) < 0.02
    # Through the gap the prediction follows the line (last value would fall 10 behind).
    assert np.max(np.abs(out[500:520] - line[500:520])) < 1.0
    last = LastValue().learn_transform_many(X, ["x"])[:, 0]
    assert np.mean(np.abs(last[500:520] - line[500:520])) > 3.0


def test_estimates_the_reading_noise() -> None:
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(0.0, 0.3, 20_000))
    imputer = Kalman(halflife=5000.0)
    imputer.learn_many((walk + rng.normal(0.0, 1.0, walk.size))[:, None], ["x"])
    r, q, q_slope = imputer.tracks_["x"].noise()
    assert 0.85 < r < 1.15  # truth: 1
    assert 0.02 < q < 0.2  # truth: 0.09
    assert q_slope < 0.01  # truth: 0
