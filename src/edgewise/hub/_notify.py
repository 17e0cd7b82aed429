"""Escalations sent to webhooks from a thread of their own: retried, never in an ingest's way."""

from __future__ import annotations

import ipaddress
import logging
import queue
import threading
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import httpx

from ._errors import HubError
from .alerts import Alert, WebhookError, WebhookNotifier

__all__ = ["Notifications", "webhooks"]

log = logging.getLogger("edgewise.hub")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def webhooks(urls: Sequence[str], *, secret: str | None) -> list[WebhookNotifier]:
    """A notifier per URL, all signing with ``secret``: https, or http to this machine only.

    >>> webhooks(["https://hooks.example/edgewise"], secret="s" * 16)
    [WebhookNotifier(url='https://hooks.example/edgewise')]
    >>> webhooks(["http://a.example"], secret="s" * 16)
    Traceback (most recent call last):
    ...
    edgewise.hub._errors.HubError: webhook http://a.example: use https (http only to this machine)
    """
    if urls and not secret:
        raise HubError("webhooks need a signing secret: set EDGEWISE_WEBHOOK_SECRET")
    made = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HubError(f"webhook {url!r} is not an http(s) URL")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise HubError(f"webhook {url}: use https (http only to this machine)")
        try:
            made.append(WebhookNotifier(url=url, secret=(secret or "").encode()))
        except WebhookError as error:
            raise HubError(str(error)) from None
    return made


def _where(webhook: WebhookNotifier) -> str:
    """A webhook's scheme and host only: many receivers put a secret in the path.

    >>> _where(WebhookNotifier(url="https://hooks.example/T00/B00/s3cret", secret=b"s" * 16))
    'https://hooks.example'
    """
    parts = urlsplit(webhook.url)
    return f"{parts.scheme}://{parts.hostname}"


class Notifications:
    """Queues alerts for every webhook and POSTs them, retrying with backoff.

    ``submit`` never blocks: when ``capacity`` notifications wait already, the newest is
    dropped and logged (a receiver down for long must not grow the hub's memory without end).
    A notification still failing after ``attempts`` tries is logged and dropped.
    """

    def __init__(
        self,
        webhooks: Sequence[WebhookNotifier],
        *,
        attempts: int = 5,
        backoff_s: float = 1.0,
        capacity: int = 10_000,
    ) -> None:
        if attempts < 1 or backoff_s < 0:
            raise ValueError("attempts is at least 1 and backoff_s not negative")
        self.webhooks = tuple(webhooks)
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._queue: queue.Queue[tuple[WebhookNotifier, Alert] | None] = queue.Queue(capacity)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.webhooks and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def submit(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            for webhook in self.webhooks:
                try:
                    self._queue.put_nowait((webhook, alert))
                except queue.Full:
                    where = _where(webhook)
                    log.error("webhooks: queue full, alert %d not sent to %s", alert.id, where)

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Stop after the notification in flight; what still waits is dropped."""
        self._stop.set()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout_s)
            self._thread = None
        for webhook in self.webhooks:
            webhook.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            self._send(*item)

    def _send(self, webhook: WebhookNotifier, alert: Alert) -> None:
        for attempt in range(self._attempts):
            try:
                webhook.notify(alert)
                return
            except httpx.HTTPError as error:
                log.warning(
                    "webhooks: alert %d to %s, try %d of %d: %s",
                    alert.id,
                    _where(webhook),
                    attempt + 1,
                    self._attempts,
                    type(error).__name__,
                )
            last = attempt + 1 == self._attempts
            if not last and self._stop.wait(self._backoff_s * 2**attempt):
                return
        log.error("webhooks: alert %d not sent to %s: giving up", alert.id, _where(webhook))
