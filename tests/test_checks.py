"""Every registered step, with every parameter set it declares, passes the generated checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from edgewise.checks import yield_checks
from edgewise.stream import Step, registry


def _cases() -> list[object]:
    cases = []
    for name, cls in registry().items():
        for i, params in enumerate(cls._unit_test_params()):
            step = cls(**params)
            for check in yield_checks(step):
                cases.append(pytest.param(step, check, id=f"{name}[{i}]:{check.__name__}"))
    return cases


@pytest.mark.parametrize(("step", "check"), _cases())
def test_check(step: Step, check: Callable[[Step], None]) -> None:
    check(step.clone())
