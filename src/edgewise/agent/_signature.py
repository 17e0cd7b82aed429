"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<body>``, in ``X-Edgewise-Signature``.

The header reads ``t=<unix seconds>,v1=<hex digest>``. Signing the timestamp with the body lets
a receiver refuse a captured request replayed later (:func:`verify_signature` allows five
minutes of clock difference by default); comparing in constant time keeps the digest from
leaking byte by byte.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "sign_body", "verify_signature"]

SIGNATURE_HEADER = "X-Edgewise-Signature"
"""The header that carries the signature of a webhook's body."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_body(*, secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds).

    >>> sign_body(secret="s3cret", body=b'{"name":"alarm"}', timestamp=1700000000)
    't=1700000000,v1=...'
    """
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(
    *,
    secret: str,
    header: str,
    body: bytes,
    now: float | None = None,
    tolerance_s: float = 300.0,
) -> bool:
    """Whether ``header`` signs exactly ``body`` with ``secret``, within ``tolerance_s`` of ``now``.

    ``body`` must be the raw bytes received, before any JSON parsing. A malformed header is
    simply not valid. Several ``v1=`` entries are allowed, so a sender may sign with an old and
    a new secret while the secret is being replaced.

    >>> h = sign_body(secret="s3cret", body=b"{}", timestamp=1700000000)
    >>> verify_signature(secret="s3cret", header=h, body=b"{}", now=1700000010)
    True
    >>> verify_signature(secret="s3cret", header=h, body=b"{ }", now=1700000010)
    False
    >>> verify_signature(secret="s3cret", header=h, body=b"{}", now=1700009999)
    False
    """
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        label, _, value = part.strip().partition("=")
        if label == "t" and value.isdigit():
            timestamp = int(value)
        elif label == "v1":
            digests.append(value)
    if timestamp is None or not digests:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected.encode(), d.encode()) for d in digests)
