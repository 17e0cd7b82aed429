"""Every registered step, with every parameter set it declares, passes the generated checks;
so do pipelines of registered steps."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from edgewise.checks import check_state_is_bounded, yield_checks
from edgewise.clean import Deduplicate, Hampel, RangeLimit, Reorder, Resample
from edgewise.detect import DefaultDetector, WindowedGaussian
from edgewise.impute import LastValue
from edgewise.stream import Pipeline, Step, registry

PIPELINES = {
    "range_hampel_default": lambda: Pipeline(
        RangeLimit(low=-40.0, high=125.0), Hampel(), DefaultDetector()
    ),
    "dedup_reorder_resample_last_gaussian": lambda: Pipeline(
        Deduplicate(),
        Reorder(lateness=120.0),
        Resample(period=60.0),
        LastValue(),
        WindowedGaussian(window=30, warmup=20),
    ),
}


def _cases() -> list[object]:
    cases = []
    for name, cls in registry().items():
        for i, params in enumerate(cls._unit_test_params()):
            step = cls(**params)
            for check in yield_checks(step):
                cases.append(pytest.param(step, check, id=f"{name}[{i}]:{check.__name__}"))
    for name, make in PIPELINES.items():
        for check in yield_checks(make()):
            cases.append(pytest.param(make(), check, id=f"pipeline-{name}:{check.__name__}"))
    return cases


@pytest.mark.parametrize(("step", "check"), _cases())
def test_check(step: Step, check: Callable[[Step], None]) -> None:
    check(step.clone())


# Steps that take minutes over 100,000 readings: the quick run checks them on a fifth of the
# readings (its early sizes, at 1,000-2,000 readings, still come after their windows of 1,000
# have filled); `EDGEWISE_FULL_CHECKS=1` (benchmarks/run) checks them at full size.
SLOW_OVER_100K = {
    "inverse_variance_fusion",
    "isolation_forest",
    "kalman_fusion",
    "online_kmeans",
    "pyod",
}


def _bounded_cases() -> list[object]:
    full = os.environ.get("EDGEWISE_FULL_CHECKS") == "1"
    return [
        pytest.param(
            cls(**next(iter(cls._unit_test_params()))),
            1.0 if full or name not in SLOW_OVER_100K else 0.2,
            id=name,
        )
        for name, cls in registry().items()
        if cls.spec_error is None and not getattr(cls, "memory_grows", False)
    ]


@pytest.mark.parametrize(("step", "scale"), _bounded_cases())
def test_state_is_bounded(step: Step, scale: float) -> None:
    check_state_is_bounded(step, scale=scale)
