"""Low-rank adapters: trained in numpy, saved, applied on the float and the int8 base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgewise.models import (
    Adapter,
    ArtifactError,
    adapt,
    fit_feature_mlp,
    quantize_int8,
)


def _shifted_task() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2, (3, 6))
    y = np.repeat([0, 1, 2], 60)
    x = centres[y] + rng.normal(0, 1, (len(y), 6))
    moved = x @ np.diag(rng.uniform(0.5, 1.5, 6)) + 2.5  # another device, other gains
    return x, y, moved


def test_adapter_round_trips_and_runs_on_the_int8_base(tmp_path: Path) -> None:
    x, y, moved = _shifted_task()
    base = fit_feature_mlp(
        x, y, classes=["a", "b", "c"], features=list("uvwxyz"), hidden=[32, 32], alpha=1e-3, seed=0
    )
    shots = np.arange(len(y)) % 6 == 0
    low = adapt(base, moved[shots], y[shots], method="lowrank", lr=1e-2, epochs=200, rank=1)
    full = adapt(base, moved[shots], y[shots], method="full", lr=1e-2, epochs=200)
    assert low.adapter is not None
    assert low.trainable_parameters < full.trainable_parameters / 5
    assert low.train_memory_bytes < full.train_memory_bytes
    low.adapter.save(tmp_path / "user.ewm")
    loaded = Adapter.load(tmp_path / "user.ewm")
    adapted = base.with_adapter(loaded)
    test = ~shots
    assert np.array_equal(adapted.predict(moved), low.model.predict(moved))
    assert np.mean(adapted.predict(moved[test]) == y[test]) > np.mean(
        base.predict(moved[test]) == y[test]
    )
    small = quantize_int8(base, calibration=x).with_adapter(loaded)
    agree = np.mean(small.predict(moved) == adapted.predict(moved))
    print(f"int8 base + float adapter agrees with float on {agree:.3f} of rows")
    assert agree >= 0.9


def test_adapter_refuses_another_base() -> None:
    x, y, moved = _shifted_task()
    kwargs = {"classes": ["a", "b", "c"], "features": list("uvwxyz"), "hidden": [8], "alpha": 1e-3}
    first = fit_feature_mlp(x, y, seed=0, **kwargs)  # type: ignore[arg-type]
    other = fit_feature_mlp(x, y, seed=1, **kwargs)  # type: ignore[arg-type]
    tuned = adapt(first, moved[:30], y[:30], method="lowrank", lr=1e-2, epochs=10)
    with pytest.raises(ArtifactError, match="another base"):
        other.with_adapter(tuned.adapter)
