"""The live feed: which records were just stored, fanned out to the device pages watching."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["LiveFeed", "Stored", "id_ranges"]

log = logging.getLogger("edgewise.hub.live")

# A page that does not keep up loses live points beyond this (they stay in its history).
_QUEUE_SIZE = 256


def id_ranges(ids: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """``ids`` as inclusive ranges: a batch's ids are consecutive, so this is short.

    >>> id_ranges([7, 3, 4, 5, 9])
    ((3, 5), (7, 7), (9, 9))
    """
    ranges: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1] = (ranges[-1][0], i)
        else:
            ranges.append((i, i))
    return tuple(ranges)


@dataclass(frozen=True, slots=True)
class Stored:
    """Records of one ``device`` just committed, by id ranges (see :func:`id_ranges`)."""

    device: str
    ranges: tuple[tuple[int, int], ...]

    def encode(self) -> str:
        """As text for a PostgreSQL NOTIFY, whose payload holds at most 8,000 bytes.

        >>> Stored.decode(Stored("press-7", ((3, 5),)).encode())
        Stored(device='press-7', ranges=((3, 5),))
        """
        text = json.dumps([self.device, self.ranges], separators=(",", ":"))
        if len(text.encode()) < 7900:
            return text
        # Many ranges: their hull; the page skips records it has already (by id).
        hull = ((self.ranges[0][0], self.ranges[-1][1]),)
        return json.dumps([self.device, hull], separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Stored:
        """The notice :meth:`encode` made."""
        device, ranges = json.loads(text)
        return cls(str(device), tuple((int(lo), int(hi)) for lo, hi in ranges))


class LiveFeed:
    """Hands :class:`Stored` notices to the subscribers of their device, on one event loop.

    Notices come from the ingest path through :meth:`on_stored` (one worker, as on SQLite) or
    from PostgreSQL's LISTEN (several workers, ``_pg.py``).
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[str, set[asyncio.Queue[Stored]]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop``, the server's (the app's lifespan binds it)."""
        self._loop = loop

    @contextmanager
    def subscribe(self, device: str) -> Iterator[asyncio.Queue[Stored]]:
        """A queue of the notices about ``device``, until the block ends."""
        queue: asyncio.Queue[Stored] = asyncio.Queue(_QUEUE_SIZE)
        self._queues.setdefault(device, set()).add(queue)
        try:
            yield queue
        finally:
            watching = self._queues[device]
            watching.discard(queue)
            if not watching:
                del self._queues[device]

    def publish(self, notice: Stored) -> None:
        """Hand ``notice`` to its device's subscribers; call it on the bound loop."""
        for queue in self._queues.get(notice.device, ()):
            try:
                queue.put_nowait(notice)
            except asyncio.QueueFull:
                log.debug("a live page of %s is behind; it misses a notice", notice.device)

    def on_stored(self, ids: Mapping[str, Sequence[int]]) -> None:
        """The ingest hook of one worker: publish the ids just committed, by device, from the
        ingest's thread."""
        if self._loop is not None and not self._loop.is_closed():
            for device, stored in ids.items():
                self._loop.call_soon_threadsafe(self.publish, Stored(device, id_ranges(stored)))
