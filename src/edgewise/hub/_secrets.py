"""Bearer secrets (device tokens, session cookies): made random, stored as their SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["digest", "new_secret"]


def new_secret() -> str:
    """256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The SHA-256 the hub stores in place of ``secret``.

    A secret is 256 random bits, so no one can guess it from its hash: a fast hash is as safe
    as a slow password hash here and keeps every request cheap.
    """
    return hashlib.sha256(secret.encode()).hexdigest()
