"""Webhook notifications signed with HMAC-SHA256, and their verification on the receiving side.

The header ``X-Edgewise-Signature: t=<unix seconds>,v1=<hex>`` signs ``b"<t>." + body``: the
receiver recomputes it with the shared secret and refuses a request older than its replay window.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from ._model import Alert

__all__ = ["SIGNATURE_HEADER", "WebhookError", "WebhookNotifier", "alert_payload", "sign", "verify"]

SIGNATURE_HEADER = "X-Edgewise-Signature"
_MIN_SECRET = 16


class WebhookError(ValueError):
    """A webhook secret too short, or a request whose signature does not verify."""


def _check_secret(secret: bytes) -> None:
    if len(secret) < _MIN_SECRET:
        raise WebhookError(f"a webhook secret has at least {_MIN_SECRET} bytes")


def _digest(body: bytes, *, secret: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, *, secret: bytes, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``.

    Examples
    --------
    >>> header = sign(b"{}", secret=b"0123456789abcdef", timestamp=1700000000)
    >>> header.startswith("t=1700000000,v1=")
    True
    >>> verify(b"{}", header=header, secret=b"0123456789abcdef", now=1700000010)
    >>> verify(b"{}", header=header, secret=b"0123456789abcdef", now=1700009999)
    Traceback (most recent call last):
    ...
    edgewise.hub.alerts._webhook.WebhookError: webhook signed 9999 s ago, outside the 300 s window
    """
    _check_secret(secret)
    return f"t={timestamp},v1={_digest(body, secret=secret, timestamp=timestamp)}"


def verify(
    body: bytes, *, header: str, secret: bytes, now: float, tolerance: float = 300.0
) -> None:
    """Raise :class:`WebhookError` unless ``header`` signs ``body`` within ``tolerance`` seconds."""
    _check_secret(secret)
    fields = dict(part.partition("=")[::2] for part in header.split(","))
    try:
        timestamp = int(fields["t"])
        signature = fields["v1"]
    except (KeyError, ValueError):
        raise WebhookError("webhook signature header is not t=<seconds>,v1=<hex>") from None
    if abs(now - timestamp) > tolerance:
        raise WebhookError(
            f"webhook signed {now - timestamp:.0f} s ago, outside the {tolerance:.0f} s window"
        )
    if not hmac.compare_digest(signature, _digest(body, secret=secret, timestamp=timestamp)):
        raise WebhookError("webhook signature does not match its body")


def alert_payload(alert: Alert) -> dict[str, Any]:
    """What a webhook says about an alert (JSON-ready)."""
    first = alert.first
    return {
        "id": alert.id,
        "state": alert.state,
        "device": first.device,
        "site": first.site,
        "stream": first.stream,
        "kind": first.kind,
        "category": first.category,
        "first_at": first.at,
        "last_at": alert.last_at,
        "count": alert.count,
        "peak_score": alert.peak_score,
        "flapping": alert.flapping,
        "group": alert.group,
        "reason": alert.history[-1].reason if alert.history else None,
    }


class WebhookNotifier:
    """POSTs signed alert notifications to one URL.

    ``transport`` is httpx's seam: tests pass ``httpx.MockTransport``; ``clock`` gives the time.
    """

    def __init__(
        self,
        *,
        url: str,
        secret: bytes,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        _check_secret(secret)
        self.url = url
        self._secret = secret
        self._clock = clock
        self._client = httpx.Client(transport=transport, timeout=timeout)

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookNotifier(url={self.url!r})"

    def notify(self, alert: Alert) -> httpx.Response:
        """Send ``alert``; the receiver's response (an HTTP error status raises)."""
        body = json.dumps(alert_payload(alert), sort_keys=True).encode()
        header = sign(body, secret=self._secret, timestamp=int(self._clock()))
        response = self._client.post(
            self.url,
            content=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: header},
        )
        return response.raise_for_status()

    def close(self) -> None:
        self._client.close()
