"""What every benchmark result records about the run: code version, date, machine, libraries."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["LIBRARIES", "run_metadata"]

LIBRARIES = ("numpy", "numba", "river", "scipy", "scikit-learn", "edgewise")
"""Distributions whose versions a result depends on."""


def _commit() -> str:
    """The git commit of the source tree, or ``"unknown"`` (installed wheel, no git, no commit)."""
    source = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else "unknown"


def _cpu() -> str:
    """The CPU model as the kernel names it (``platform.processor()`` is often empty on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def run_metadata() -> dict[str, Any]:
    """Facts about this run to store beside a benchmark's numbers.

    Returns
    -------
    dict
        ``commit`` (git commit of the source tree, else ``"unknown"``), ``date`` (ISO 8601, UTC),
        ``cpu`` (model name), ``cpu_count``, ``python`` and ``versions`` (of :data:`LIBRARIES`).

    Examples
    --------
    >>> meta = run_metadata()
    >>> sorted(meta)
    ['commit', 'cpu', 'cpu_count', 'date', 'python', 'versions']
    >>> meta["date"].endswith("+00:00")
    True
    """
    return {
        "commit": _commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in LIBRARIES},
    }
