"""Signed model releases: a TUF repository of ``.ewm`` images and per-device assignments.

Offline keys (root, targets) sign which images exist; online keys (snapshot, timestamp,
assignments) sign which device runs which image. An agent installs an image only when both say
so (``docs/releases.md``).

>>> import tempfile
>>> from pathlib import Path
>>> base = Path(tempfile.mkdtemp())
>>> repo = Repository.create(base / "repo", offline_keys=base / "offline")
>>> repo.assign("pump-1", "models/unknown.ewm")
Traceback (most recent call last):
...
edgewise.releases._errors.ReleaseError: models/unknown.ewm is not published (...)
"""

from ._assignment import ASSIGNMENTS, IMAGES, Assignment, target_of
from ._errors import ReleaseError
from ._keys import OFFLINE_ROLES, ONLINE_ROLES, PASSPHRASE_ENV, generate, load_signers
from ._repository import LIFETIMES, ROLES, Repository
from ._selftest import self_test

__all__ = [  # noqa: RUF022 (plain sort, as the API test checks)
    "ASSIGNMENTS",
    "Assignment",
    "IMAGES",
    "LIFETIMES",
    "OFFLINE_ROLES",
    "ONLINE_ROLES",
    "PASSPHRASE_ENV",
    "ROLES",
    "ReleaseError",
    "Repository",
    "generate",
    "load_signers",
    "self_test",
    "target_of",
]
