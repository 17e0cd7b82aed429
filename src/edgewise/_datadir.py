"""Where edgewise finds real datasets: never inside the package, always through a setting."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV", "data_dir"]

DATA_ENV = "EDGEWISE_DATA"


def data_dir() -> Path:
    """The datasets folder: ``$EDGEWISE_DATA``, else ``../shared/datasets`` when it exists.

    ``../shared/datasets`` is looked for beside the current directory and beside the source tree.
    """
    configured = os.environ.get(DATA_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{DATA_ENV}={configured} is not a folder")
        return path
    repo_root = Path(__file__).resolve().parents[2]
    for base in (Path.cwd(), repo_root):
        candidate = base.parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"no datasets folder: set {DATA_ENV} to the folder holding NAB/, BeijingAirQuality/, ..."
    )
