"""The digest of the C kernel's sources, compiled into its build so that a stale build is known.

An editable install builds the extension once; a later change to the C sources (or to the layout
header generated from the Python layout) leaves it stale until it is built again. The backend
compares the digest the build was made from with the sources beside it and runs numba when they
differ. Plain Python on purpose: ``build.py`` runs it in pip's build environment.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SOURCES = ("default_kernel.c", "default_kernel.h", "default_layout.h")


def source_digest(folder: Path = Path(__file__).parent) -> str:
    """SHA-256 of the kernel's sources in ``folder``, or "" where they are not shipped."""
    digest = hashlib.sha256()
    for name in SOURCES:
        path = folder / name
        if not path.is_file():
            return ""
        digest.update(path.read_bytes())
    return digest.hexdigest()
