"""The live feed: which devices just got records, handed to the device pages watching them."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator
from contextlib import contextmanager

__all__ = ["INBOX", "LiveFeed"]

INBOX = ""
"""What the feed calls the alert inbox (no device has an empty name): woken when alerts change."""


class LiveFeed:
    """Wakes the subscribers of a device when records of it are stored, on one event loop.

    A wake-up carries no records: the page's stream then reads those with ids above the last
    it sent, so a burst of batches costs one query, and a slow page misses nothing.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watching: dict[str, set[asyncio.Event]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop``, the server's (the app's lifespan binds it)."""
        self._loop = loop

    @contextmanager
    def subscribe(self, device: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``device`` may have new records, until the block ends."""
        woken = asyncio.Event()
        self._watching.setdefault(device, set()).add(woken)
        try:
            yield woken
        finally:
            watching = self._watching[device]
            watching.discard(woken)
            if not watching:
                del self._watching[device]

    def publish(self, devices: Collection[str]) -> None:
        """Wake the subscribers of ``devices``; call it on the bound loop.

        >>> feed = LiveFeed()
        >>> with feed.subscribe("press-7") as woken:
        ...     feed.publish(["press-7", "plc-1"])
        ...     woken.is_set()
        True
        """
        for device in devices:
            for woken in self._watching.get(device, ()):
                woken.set()

    def wake_all(self) -> None:
        """Wake every subscriber: notices may have been lost (a LISTEN connection was down)."""
        self.publish(list(self._watching))

    def on_stored(self, devices: Collection[str]) -> None:
        """The ingest hook of a single worker: :meth:`publish` from the ingest's thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.publish, list(devices))
