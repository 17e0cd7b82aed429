"""Escalations sent to webhooks from a thread of their own: retried, never in an ingest's way."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Sequence

import httpx

from .alerts import Alert, WebhookNotifier

__all__ = ["Notifications"]

log = logging.getLogger("edgewise.hub")


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
                    log.error("webhooks: queue full, alert %d not sent to %r", alert.id, webhook)

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
                    "webhooks: alert %d to %r, try %d of %d: %s",
                    alert.id,
                    webhook,
                    attempt + 1,
                    self._attempts,
                    type(error).__name__,
                )
            if self._stop.wait(self._backoff_s * 2**attempt):
                return
        log.error("webhooks: alert %d not sent to %r: giving up", alert.id, webhook)
