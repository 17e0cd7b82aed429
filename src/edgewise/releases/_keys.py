"""Signing keys as PEM files: offline keys (root, targets) in a folder the operator keeps away from
the hub, online keys (snapshot, timestamp, assignments) in a folder the hub's machine reads.

A role's keys are ``<role>-<n>.pem`` (PKCS#8, Ed25519). When ``EDGEWISE_KEY_PASSPHRASE`` is set,
offline keys are written encrypted with it and read with it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from securesystemslib.signer import CryptoSigner

from ._errors import ReleaseError

__all__ = ["OFFLINE_ROLES", "ONLINE_ROLES", "PASSPHRASE_ENV", "generate", "load_signers"]

OFFLINE_ROLES = ("root", "targets")
"""Roles whose keys never stay on the hub: a publish or a rotation brings them for a moment."""
ONLINE_ROLES = ("snapshot", "timestamp", "assignments")
"""Roles the hub signs with by itself: every publish, assignment and refresh."""
PASSPHRASE_ENV = "EDGEWISE_KEY_PASSPHRASE"


def _passphrase(role: str) -> bytes | None:
    secret = os.environ.get(PASSPHRASE_ENV)
    return secret.encode() if secret and role in OFFLINE_ROLES else None


def generate(folder: Path, role: str, count: int) -> list[CryptoSigner]:
    """``count`` new Ed25519 keys for ``role``, written to ``folder`` (mode 0600)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if any(folder.glob(f"{role}-*.pem")):
        raise ReleaseError(f"{folder} already holds {role} keys; rotate them instead")
    keys = [Ed25519PrivateKey.generate() for _ in range(count)]
    for number, key in enumerate(keys, start=1):
        _write(folder / f"{role}-{number}.pem", key, role)
    return [CryptoSigner(key) for key in keys]


def _write(path: Path, key: Ed25519PrivateKey, role: str) -> None:
    secret = _passphrase(role)
    encryption = BestAvailableEncryption(secret) if secret else NoEncryption()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


def load_signers(folder: Path, role: str) -> list[CryptoSigner]:
    """Every key of ``role`` in ``folder``; a clear error if there is none or one is unreadable."""
    paths = sorted(folder.glob(f"{role}-*.pem"))
    if not paths:
        raise ReleaseError(f"no {role} key in {folder} (expected {role}-1.pem, ...)")
    signers = []
    for path in paths:
        try:
            key = load_pem_private_key(path.read_bytes(), _passphrase(role))
            signers.append(CryptoSigner(key))
        except (OSError, ValueError, TypeError) as error:
            raise ReleaseError(f"{path}: not a usable private key ({error})") from None
    return signers
