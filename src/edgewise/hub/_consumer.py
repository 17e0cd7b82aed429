"""A hub worker: records from the one durable JetStream consumer into the database, once each.

Every worker fetches from the same durable pull consumer (:data:`CONSUMER`), so N workers
share the stream and each message goes to one of them at a time. A worker acknowledges a
message only after the transaction storing its record commits; a worker that dies leaves its
messages unacknowledged, and JetStream gives them to another worker after ``ack_wait``. A
record stored before the worker died and delivered again is absorbed by the database's unique
key, so each is stored exactly once. ``max_ack_pending`` caps the messages out and
unacknowledged across all workers: with the database slow, JetStream holds the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from edgewise.agent._uplink import _worth_logging
from edgewise.agent.inputs._backoff import Backoff

from ._db import check_schema, engine
from ._jetstream import (
    CONSUMER,
    RECORDS_STREAM,
    RECORDS_SUBJECT,
    dead_letter,
    ensure_streams,
    msg_id,
)
from ._nats import connect, stop_on_signals, unless_stopped
from ._protocol import RecordError, WireRecord, check_record
from ._store import RecordKey, registered, store_records
from .web import notifier

__all__ = ["WorkerSettings", "run_worker"]

log = logging.getLogger("edgewise.hub.worker")


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """The database, NATS, and the consumer's settings (shared by every worker: the last
    worker to start sets them)."""

    db_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    nats_creds: str | None = None
    batch: int = 500
    """Messages fetched, stored in one transaction, then acknowledged."""
    ack_wait_s: float = 30.0
    """Unacknowledged this long, a message goes to another worker."""
    max_ack_pending: int = 10_000
    """Messages out and unacknowledged across all workers: JetStream holds the rest."""


class _Counts:
    def __init__(self) -> None:
        self.stored = self.duplicates = self.dead = self.redelivered = 0


def _key(record: WireRecord) -> RecordKey:
    return RecordKey(record.device, record.stream, record.kind, record.seq, record.name)


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _read(msg: Msg) -> WireRecord | str:
    """The record a message carries, or why it carries none."""
    try:
        return check_record(json.loads(msg.data, parse_constant=_no_constants))
    except (ValueError, RecursionError) as error:  # RecordError is a ValueError
        reason = str(error) if isinstance(error, RecordError) else f"not JSON: {error}"
        return f"not a record: {reason}"


def _store(
    sessions: sessionmaker[Session], records: list[WireRecord]
) -> tuple[int, set[str], set[str]]:
    """Store the records of registered devices in one transaction; (stored, the registered
    devices, the unknown ones)."""
    with sessions() as s, s.begin():
        known = registered(s, {r.device for r in records})
        stored = store_records(s, [r for r in records if r.device in known], time.time())
    return stored, known, {r.device for r in records} - known


async def _handle(
    js: JetStreamContext,
    sessions: sessionmaker[Session],
    msgs: list[Msg],
    counts: _Counts,
    wake: Callable[[Collection[str]], None] | None,
) -> None:
    counts.redelivered += sum(msg.metadata.num_delivered > 1 for msg in msgs)
    read = [(msg, _read(msg)) for msg in msgs]
    records = [r for _, r in read if isinstance(r, WireRecord)]
    stored, known, unknown = await asyncio.to_thread(_store, sessions, records)
    counts.stored += stored
    if stored and wake is not None:
        try:  # the dashboard's pages of these devices read what is new; never holds the acks
            await asyncio.to_thread(wake, known)
        except SQLAlchemyError as error:
            log.warning("the dashboard was not told of new records (%s)", type(error).__name__)
    counts.duplicates += len(records) - stored - sum(r.device in unknown for r in records)
    # Committed: now the refused go to the dead letters, then every message is acknowledged.
    for msg, r in read:
        if isinstance(r, WireRecord) and r.device not in unknown:
            continue
        if isinstance(r, WireRecord):
            letter: dict[str, Any] = {
                "record": r.model_dump(mode="json"),
                "reason": f"device {r.device!r} is not registered in the hub",
            }
            ident = msg_id(_key(r))
        else:
            letter = {"message": msg.data.decode(errors="replace"), "reason": r}
            ident = hashlib.sha256(msg.data).hexdigest()
        counts.dead += 1
        if _worth_logging(counts.dead):
            log.warning("dead letter %d: %s", counts.dead, letter["reason"])
        await dead_letter(js, letter, ident)
    for msg in msgs:
        await msg.ack()


async def _work(settings: WorkerSettings, stop: asyncio.Event) -> _Counts:
    made = engine(settings.db_url)
    check_schema(made)
    sessions = sessionmaker(made)
    # Wakes the dashboard's pages on every hub worker (LISTEN/NOTIFY); SQLite has no channel
    # between processes, so there pages show these records on their next wake.
    wake = notifier(made) if made.dialect.name == "postgresql" else None
    counts = _Counts()
    nc = await connect(settings.nats_url, creds=settings.nats_creds, name="edgewise-hub-worker")
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        # Creates the consumer, or updates its settings when it exists.
        await js.add_consumer(
            RECORDS_STREAM,
            ConsumerConfig(
                durable_name=CONSUMER,
                filter_subject=RECORDS_SUBJECT,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=settings.ack_wait_s,
                max_ack_pending=settings.max_ack_pending,
                max_deliver=-1,  # a record is never given up on: the database may come back
            ),
        )
        pull = await js.pull_subscribe_bind(durable=CONSUMER, stream=RECORDS_STREAM)
        backoff = Backoff(first=0.5, most=10.0)
        failures = 0
        while not stop.is_set():
            try:
                msgs = await pull.fetch(settings.batch, timeout=1.0)
            except TimeoutError:  # nothing to fetch (nats-py raises its own or asyncio's)
                continue
            try:
                if not await unless_stopped(_handle(js, sessions, msgs, counts, wake), stop):
                    break
            except (OperationalError, InterfaceError) as error:  # the database is away
                failures += 1
                delay = backoff.next()
                if _worth_logging(failures):
                    log.warning(
                        "database unavailable (%s), %d time(s); retrying in %g s",
                        type(error.orig).__name__,
                        failures,
                        delay,
                    )
                for msg in msgs:
                    await msg.nak(delay=delay)
                await asyncio.sleep(delay)
            else:
                backoff.reset()
    finally:
        await nc.close()
        made.dispose()
    return counts


def run_worker(settings: WorkerSettings) -> None:
    """Store records from JetStream until SIGINT or SIGTERM; then log what was done."""

    async def main() -> _Counts:
        return await _work(settings, stop_on_signals())

    counts = asyncio.run(main())
    log.info(
        "worker stopped: %d records stored, %d duplicates absorbed, %d dead letters, "
        "%d messages delivered again",
        counts.stored,
        counts.duplicates,
        counts.dead,
        counts.redelivered,
    )
