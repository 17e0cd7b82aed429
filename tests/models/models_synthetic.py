"""Small synthetic recordings for the model tests: three tones in noise."""

from __future__ import annotations

import numpy as np

from edgewise.models import Recording

CLASSES = ["high", "low", "mid"]


def recordings(*, samples: int = 4096, seed: int = 0) -> list[Recording]:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 1000.0
    out = []
    for label, freq in (("low", 40.0), ("mid", 160.0), ("high", 330.0)):
        for k in range(2):
            signal = np.sin(2 * np.pi * freq * t + rng.uniform(0, 6)) + 0.4 * rng.normal(
                size=samples
            )
            out.append(
                Recording(name=f"{label}{k}", label=label, samples=signal, sample_rate=1000.0)
            )
    return out
