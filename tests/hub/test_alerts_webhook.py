"""Webhooks signed with HMAC-SHA256: sign, verify, replay window, and the notifier's transport."""

from __future__ import annotations

import json

import httpx
import pytest

from edgewise.hub.alerts import (
    SIGNATURE_HEADER,
    Alert,
    Event,
    WebhookError,
    WebhookNotifier,
    sign,
    verify,
)

SECRET = b"a-webhook-secret-of-32-bytes-ok!"
NOW = 1_700_000_000


def test_a_signature_verifies_within_the_window_on_both_sides() -> None:
    header = sign(b'{"a": 1}', secret=SECRET, timestamp=NOW)
    verify(b'{"a": 1}', header=header, secret=SECRET, now=NOW + 299)
    verify(b'{"a": 1}', header=header, secret=SECRET, now=NOW - 299)  # receiver's clock behind


@pytest.mark.parametrize(
    ("body", "secret", "now", "message"),
    [
        (b'{"a": 2}', SECRET, NOW, "does not match"),  # tampered body
        (b'{"a": 1}', b"another-secret-of-enough-bytes!!", NOW, "does not match"),
        (b'{"a": 1}', SECRET, NOW + 301, "outside the 300 s window"),  # a replay, later
    ],
)
def test_tampering_another_secret_and_replays_are_refused(
    body: bytes, secret: bytes, now: int, message: str
) -> None:
    header = sign(b'{"a": 1}', secret=SECRET, timestamp=NOW)
    with pytest.raises(WebhookError, match=message):
        verify(body, header=header, secret=secret, now=now)


def test_a_changed_timestamp_breaks_the_signature() -> None:
    header = sign(b"{}", secret=SECRET, timestamp=NOW)
    replayed = header.replace(f"t={NOW}", f"t={NOW + 600}")
    with pytest.raises(WebhookError, match="does not match"):
        verify(b"{}", header=replayed, secret=SECRET, now=NOW + 600)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=soon,v1=abc", "t=1"])
def test_a_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(WebhookError, match="is not t=<seconds>,v1=<hex>"):
        verify(b"{}", header=header, secret=SECRET, now=NOW)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(WebhookError, match="at least 16 bytes"):
        sign(b"{}", secret=b"short", timestamp=NOW)
    with pytest.raises(WebhookError, match="at least 16 bytes"):
        WebhookNotifier(url="https://example.invalid/hook", secret=b"")


def _alert() -> Alert:
    event = Event(at=5.0, device="m1", site="s1", stream="temp", kind="range", score=0.9)
    alert = Alert(id=3, first=event)
    alert.escalate(by="triage", at=3600.0, reason="m1/temp still abnormal, peak score 0.90")
    return alert


def test_the_notifier_posts_a_signed_payload_the_receiver_verifies() -> None:
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        verify(
            request.content,
            header=request.headers[SIGNATURE_HEADER],
            secret=SECRET,
            now=NOW + 1,
        )
        return httpx.Response(204)

    notifier = WebhookNotifier(
        url="https://hooks.example/alerts",
        secret=SECRET,
        transport=httpx.MockTransport(receiver),
        clock=lambda: NOW,
    )
    assert notifier.notify(_alert()).status_code == 204
    notifier.close()
    [request] = received
    payload = json.loads(request.content)
    assert (payload["id"], payload["state"], payload["device"]) == (3, "escalated", "m1")
    assert payload["reason"] == "m1/temp still abnormal, peak score 0.90"
    assert str(request.url) == "https://hooks.example/alerts"


def test_a_refusing_receiver_raises_and_the_secret_never_shows() -> None:
    notifier = WebhookNotifier(
        url="https://hooks.example/alerts",
        secret=SECRET,
        transport=httpx.MockTransport(lambda request: httpx.Response(401)),
    )
    with pytest.raises(httpx.HTTPStatusError):
        notifier.notify(_alert())
    assert SECRET.decode() not in repr(notifier)
    notifier.close()
