"""Live updates across hub workers on PostgreSQL: NOTIFY after each ingest, LISTEN in each worker.

The worker that stores a batch sends ``NOTIFY edgewise_records`` after its commit, its payload
the JSON list of the devices the batch had records of; every worker LISTENs on a connection of
its own and wakes its :class:`LiveFeed`, so a page sees points whichever worker stored them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection, Iterator

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ._feed import LiveFeed

__all__ = ["CHANNEL", "listen", "notifier", "payloads"]

CHANNEL = "edgewise_records"
"""The PostgreSQL channel of stored records; one per database, as is the hub."""

_MAX_PAYLOAD = 7900  # PostgreSQL's limit is 8,000 bytes

log = logging.getLogger("edgewise.hub.live")


def payloads(devices: Collection[str]) -> Iterator[str]:
    """``devices`` as JSON lists, each short enough for one NOTIFY.

    >>> list(payloads(["press-7", "plc-1"]))
    ['["plc-1","press-7"]']
    >>> len(list(payloads([f"device-{i:03}" for i in range(1000)])))
    2
    """
    chunk: list[str] = []
    size = 2
    for device in sorted(devices):
        cost = len(json.dumps(device).encode()) + 1
        if chunk and size + cost > _MAX_PAYLOAD:
            yield json.dumps(chunk, separators=(",", ":"))
            chunk, size = [], 2
        chunk.append(device)
        size += cost
    if chunk:
        yield json.dumps(chunk, separators=(",", ":"))


def notifier(made: Engine) -> Callable[[Collection[str]], None]:
    """An ingest hook telling every worker on ``made``'s database which devices got records."""
    statement = sa.text("SELECT pg_notify(:channel, :payload)")

    def notify(devices: Collection[str]) -> None:
        with made.begin() as connection:
            for payload in payloads(devices):
                connection.execute(statement, {"channel": CHANNEL, "payload": payload})

    return notify


async def listen(made: Engine, feed: LiveFeed, *, retry_s: float = 1.0) -> None:
    """Wake ``feed`` for every notice on :data:`CHANNEL`, reconnecting until cancelled.

    Pages keep the id of the last record they showed, so a notice lost while the connection is
    down only delays their points to the next one.
    """
    conninfo = made.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as c:
                await c.execute(f"LISTEN {CHANNEL}")
                feed.wake_all()
                async for heard in c.notifies():
                    feed.publish(json.loads(heard.payload))
        except psycopg.OperationalError as error:
            log.warning("live updates: LISTEN lost (%s); retrying", type(error).__name__)
            await asyncio.sleep(retry_s)
