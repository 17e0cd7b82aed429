"""False alarms on streams where nothing happens: what an operator sees on a quiet day.

Three stationary signals, each long and seeded: white noise ``N(0, 1)``; a sine of period 100
readings and amplitude 1 plus ``N(0, 0.2)`` noise; an AR(1) process with ``phi = 0.9`` and
``N(0, 1)`` innovations. Every alarm (the first reading of an episode) counted from reading
``skip`` on is a false alarm; the rate is per 10,000 readings, pooled over the seeds. The share of
readings flagged abnormal is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..stream import Detector, create

__all__ = ["SIGNALS", "run_stationary", "signal"]

SIGNALS = ("white_noise", "sine_noise", "ar1")


def signal(name: str, n: int, seed: int) -> NDArray[np.float64]:
    """``n`` readings of the stationary signal ``name``, the same for the same seed."""
    rng = np.random.default_rng(seed)
    x: NDArray[np.float64]
    if name == "white_noise":
        x = rng.normal(0.0, 1.0, n)
        return x
    if name == "sine_noise":
        x = np.sin(2.0 * np.pi * np.arange(n) / 100.0) + rng.normal(0.0, 0.2, n)
        return x
    if name == "ar1":
        x = np.empty(n)
        x[0] = rng.normal(0.0, 1.0 / np.sqrt(1.0 - 0.81))
        shocks = rng.normal(0.0, 1.0, n)
        for t in range(1, n):
            x[t] = 0.9 * x[t - 1] + shocks[t]
        return x
    raise ValueError(f"no signal {name!r}; known: {', '.join(SIGNALS)}")


def run_stationary(
    *,
    detector: str = "default",
    params: Mapping[str, Any] | None = None,
    n: int = 21_000,
    skip: int = 1_000,
    seeds: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Alarms per 10,000 readings from reading ``skip`` on, per signal; JSON-ready."""
    result: dict[str, Any] = {"detector": detector, "readings": n, "counted_from": skip}
    done, total = 0, len(SIGNALS) * seeds
    for name in SIGNALS:
        alarms = flagged = counted = 0
        for seed in range(seeds):
            step = create(detector, params)
            if not isinstance(step, Detector):
                raise TypeError(f"step {detector!r} is not a detector")
            found = step.detect_many(signal(name, n, seed)[:, None], ["x"])
            alarms += int(found.alarm[skip:].sum())
            flagged += int(found.is_anomaly[skip:].sum())
            counted += n - skip
            done += 1
            if progress is not None:
                progress(done, total)
        result[name] = {
            "alarms_per_10k": 1e4 * alarms / counted,
            "abnormal_share": flagged / counted,
            "alarms": alarms,
            "readings_counted": counted,
        }
    result["worst_alarms_per_10k"] = max(result[name]["alarms_per_10k"] for name in SIGNALS)
    return result
