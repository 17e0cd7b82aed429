"""Live updates across hub workers on PostgreSQL: NOTIFY after each ingest, LISTEN in each worker.

The worker that stores a batch sends one ``NOTIFY edgewise_records`` per device after its commit
(payload: :meth:`Stored.encode`); every worker LISTENs on one connection of its own and hands
what it hears to its :class:`LiveFeed`, so a page sees the points whichever worker stored them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ._feed import LiveFeed, Stored, id_ranges

__all__ = ["CHANNEL", "listen", "notifier"]

CHANNEL = "edgewise_records"
"""The PostgreSQL channel of stored records; one per database, as is the hub."""

log = logging.getLogger("edgewise.hub.live")


def notifier(made: Engine) -> Callable[[Mapping[str, Sequence[int]]], None]:
    """An ingest hook telling every worker on ``made``'s database which ids were just stored."""
    statement = sa.text("SELECT pg_notify(:channel, :payload)")

    def notify(ids: Mapping[str, Sequence[int]]) -> None:
        with made.begin() as connection:
            for device, stored in ids.items():
                payload = Stored(device, id_ranges(stored)).encode()
                connection.execute(statement, {"channel": CHANNEL, "payload": payload})

    return notify


async def listen(made: Engine, feed: LiveFeed, *, retry_s: float = 1.0) -> None:
    """Hand every notice on :data:`CHANNEL` to ``feed``, reconnecting until cancelled.

    Notices sent while the connection is down are lost to the live view, not to the history.
    """
    conninfo = made.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as c:
                await c.execute(f"LISTEN {CHANNEL}")
                async for heard in c.notifies():
                    feed.publish(Stored.decode(heard.payload))
        except psycopg.OperationalError as error:
            log.warning("live updates: LISTEN lost (%s); retrying", type(error).__name__)
            await asyncio.sleep(retry_s)
