"""No pickle is written or read anywhere but in the check suite's pickling check."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_only_the_check_suite_uses_pickle() -> None:
    users = [
        path.relative_to(ROOT).as_posix()
        for folder in ("src", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"^\s*(import pickle|from pickle import)", path.read_text(), re.M)
    ]
    assert users == ["src/edgewise/checks.py"]
