"""Files replaced whole or not at all, even across a crash or a SIGKILL.

The new content goes to ``NAME.part``, is flushed to disk, and is renamed over ``NAME``; the
folder is flushed too, so the rename itself survives a power cut. A reader sees the old bytes or
the new ones, never a mix.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["copy_atomic", "write_atomic"]


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "state.json"
    >>> write_atomic(target, b"{}")
    >>> target.read_bytes()
    b'{}'
    """
    _replace(path, lambda file: file.write(data))


def copy_atomic(source: Path, path: Path) -> None:
    """Replace ``path`` with a copy of ``source``."""
    with source.open("rb") as original:
        _replace(path, lambda file: shutil.copyfileobj(original, file))


def _replace(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    part = path.with_name(path.name + ".part")
    with part.open("wb") as file:
        fill(file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(part, path)
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
