"""What the hub does to its database on ingest: who a token is, one ingest transaction.

Devices, their tokens and commands are kept by ``_devices``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ._chunks import Readings, pack, rollups, unpack
from ._db import session
from ._errors import HubError
from ._models import (
    Command,
    Device,
    ReadingChunk,
    StoredRecord,
    Token,
    TokenDevice,
)
from ._protocol import WireRecord, split_readings
from ._secrets import digest

__all__ = [
    "Agent",
    "RecordKey",
    "authenticate_in",
    "ingest",
    "registered",
    "store_readings",
    "store_records",
    "stored_keys",
]


class RecordKey(NamedTuple):
    """A record's idempotency key: the hub stores one record per key."""

    device: str
    stream: str
    kind: str
    seq: int
    name: str


@dataclass(frozen=True, slots=True)
class Agent:
    """Who a valid token belongs to and which devices it covers (its own included)."""

    name: str
    covers: frozenset[str]
    device_ids: tuple[int, ...]


def authenticate_in(s: Session, token: str) -> Agent | None:
    """The agent ``token`` belongs to, or None if it is unknown or revoked."""
    hashed = digest(token)
    owner = s.execute(
        sa.select(Device.name)
        .join(Token, Token.device_id == Device.id)
        .where(Token.sha256 == hashed, Token.revoked.is_(None), Device.revoked.is_(None))
    ).one_or_none()
    if owner is None:
        return None
    covered = s.execute(
        sa.select(Device.id, Device.name)
        .join(TokenDevice, TokenDevice.device_id == Device.id)
        .join(Token, Token.id == TokenDevice.token_id)
        .where(Token.sha256 == hashed, Device.revoked.is_(None))
    ).all()
    return Agent(owner.name, frozenset(r.name for r in covered), tuple(r.id for r in covered))


# PostgreSQL: each connection's own staging table, emptied at every commit. COPY into it, then
# one INSERT ... SELECT, is about 3x faster for 1,000 records than a multi-row INSERT
# (docs/protocol.md, "Storage").
_STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS incoming (
    ord integer, device text, stream text, kind text, seq bigint, name text,
    timestamp double precision, received double precision, body jsonb
) ON COMMIT DELETE ROWS
"""
_incoming = sa.table(
    "incoming", *(sa.column(c) for c in ("ord", *RecordKey._fields, "timestamp", "received"))
)
_incoming.append_column(sa.column("body", postgresql.JSONB()))
_COLUMNS = [*RecordKey._fields, "timestamp", "received", "stored_at", "body"]


def _store_postgresql(s: Session, records: Sequence[WireRecord], now: float) -> int:
    import psycopg

    s.execute(sa.text(_STAGING))
    raw = s.connection().connection.driver_connection
    assert isinstance(raw, psycopg.Connection)  # engine() routes PostgreSQL to psycopg 3
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY incoming (ord, device, stream, kind, seq, name, timestamp, received, body) "
            "FROM STDIN"
        ) as copy,
    ):
        for i, r in enumerate(records):
            row = (i, r.device, r.stream, r.kind, r.seq, r.name, r.timestamp, r.received)
            copy.write_row((*row, json.dumps(r.body)))
    c = _incoming.c
    select = sa.select(
        c.device, c.stream, c.kind, c.seq, c.name, c.timestamp, c.received,
        sa.literal(now, sa.Double()), c.body,
    ).order_by(c.ord)  # fmt: skip
    statement = (
        postgresql.insert(StoredRecord)
        .from_select(_COLUMNS, select)
        .on_conflict_do_nothing(index_elements=list(RecordKey._fields))
        .returning(StoredRecord.id)
    )
    return len(s.execute(statement).all())


def _store_sqlite(s: Session, records: Sequence[WireRecord], now: float) -> int:
    rows = [{**r.model_dump(include=set(_COLUMNS)), "stored_at": now} for r in records]
    statement = (
        sqlite.insert(StoredRecord)
        .on_conflict_do_nothing(index_elements=list(RecordKey._fields))
        .returning(StoredRecord.id)
    )
    # One multi-row INSERT per chunk (SQLAlchemy's "insertmanyvalues").
    return len(s.execute(statement, rows).all())


def _store_others(s: Session, records: Sequence[WireRecord], now: float) -> int:
    if not records:
        return 0
    dialect = s.get_bind().dialect.name
    # RETURNING names only the rows inserted: whatever else there was is a duplicate.
    if dialect == "postgresql":
        return _store_postgresql(s, records, now)
    if dialect == "sqlite":
        return _store_sqlite(s, records, now)
    raise HubError(f"unsupported database dialect {dialect!r}")


CHUNK_READINGS = 1000
"""The most readings one chunk holds: a batch's run of a stream is split into chunks this long,
so a chart of the newest readings unpacks little more than it shows."""

# Readings are stored through the driver's own cursor, in SQL both databases speak: the same
# statements through SQLAlchemy cost more than the rest of the ingest (docs/protocol.md).
_LOCK = """
INSERT INTO reading_streams (device, stream, seq_max, count, last_t, stored_at)
VALUES (%s, %s, -1, 0, %s, %s)
ON CONFLICT (device, stream) DO UPDATE SET seq_max = reading_streams.seq_max
RETURNING seq_max
"""
_OVERLAPPING = """
SELECT data FROM reading_chunks
WHERE device = %s AND stream = %s AND seq_hi >= %s AND seq_lo <= %s
"""
_CHUNK = """
INSERT INTO reading_chunks (device, stream, seq_lo, seq_hi, count, t_lo, t_hi, stored_at, data)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
_ROLLUP = """
INSERT INTO reading_rollups
    (device, stream, width, start, input, count, total, low, high, score, alarms, updated)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (device, stream, width, start, input) DO UPDATE SET
    count = reading_rollups.count + excluded.count,
    total = reading_rollups.total + excluded.total,
    low = {least}(reading_rollups.low, excluded.low),
    high = {greatest}(reading_rollups.high, excluded.high),
    score = {score},
    alarms = reading_rollups.alarms + excluded.alarms,
    updated = excluded.updated
"""
_STREAM = """
UPDATE reading_streams SET seq_max = {greatest}(seq_max, %s), count = count + %s,
    last_t = {greatest}(last_t, %s), stored_at = %s
WHERE device = %s AND stream = %s
"""
# LEAST and GREATEST skip NULLs; SQLite's two-argument min and max are NULL if either is.
_SQL = {
    "postgresql": {
        name: sql.format(
            least="LEAST",
            greatest="GREATEST",
            score="GREATEST(reading_rollups.score, excluded.score)",
        )
        for name, sql in (
            ("lock", _LOCK), ("overlapping", _OVERLAPPING), ("chunk", _CHUNK),
            ("rollup", _ROLLUP), ("stream", _STREAM),
        )
    },
}  # fmt: skip
_SQL["sqlite"] = {
    name: sql.replace("LEAST", "min").replace("GREATEST", "max").replace("%s", "?")
    for name, sql in _SQL["postgresql"].items()
}
_SQL["sqlite"]["rollup"] = _SQL["sqlite"]["rollup"].replace(
    "max(reading_rollups.score, excluded.score)",
    "max(coalesce(reading_rollups.score, excluded.score), "
    "coalesce(excluded.score, reading_rollups.score))",
)


def _new_indices(cursor: Any, sql: Mapping[str, str], run: Readings, seq_max: int) -> Any:
    """The indices of ``run``'s readings whose seq is stored nowhere yet (the first of each seq
    when the batch holds it twice), or None when all are new."""
    seq = run.seq
    unique, first = np.unique(seq, return_index=True)
    keep = None
    if len(unique) < len(seq):
        keep = np.zeros(len(seq), dtype=np.bool_)
        keep[first] = True
    low, high = int(unique[0]), int(unique[-1])
    if low <= seq_max:
        # A resend, or a stream sent out of order: look in the chunks it may overlap.
        cursor.execute(sql["overlapping"], (run.device, run.stream, low, high))
        for (data,) in cursor.fetchall():
            stored = np.isin(seq, unpack(bytes(data)).seq)
            keep = ~stored if keep is None else keep & ~stored
    return None if keep is None or keep.all() else np.flatnonzero(keep)


def _store_run(cursor: Any, sql: Mapping[str, str], run: Readings, now: float) -> int:
    device, stream = run.device, run.stream
    # An upsert that changes nothing still takes the row's lock on PostgreSQL, and on SQLite
    # the write lock: batches of one stream are checked and stored one at a time.
    cursor.execute(sql["lock"], (device, stream, float(run.timestamp.min()), now))
    (seq_max,) = cursor.fetchone()
    chosen = _new_indices(cursor, sql, run, seq_max)
    if chosen is not None:
        run = run.take(chosen)
    n = len(run)
    if not n:
        return 0
    chunks = [
        run.take(np.arange(lo, min(lo + CHUNK_READINGS, n)))
        for lo in range(0, n, CHUNK_READINGS)
    ] if n > CHUNK_READINGS else [run]  # fmt: skip
    cursor.executemany(
        sql["chunk"],
        [
            (
                device,
                stream,
                int(c.seq.min()),
                int(c.seq.max()),
                len(c),
                float(c.timestamp.min()),
                float(c.timestamp.max()),
                now,
                pack(c),
            )
            for c in chunks
        ],
    )
    cursor.executemany(
        sql["rollup"],
        [(device, stream, *msgspec.structs.astuple(u), now) for u in rollups(run)],
    )
    cursor.execute(
        sql["stream"],
        (int(run.seq.max()), n, float(run.timestamp.max()), now, device, stream),
    )
    return n


def store_readings(s: Session, runs: Sequence[Readings], now: float) -> int:
    """Store the readings whose keys are new, in the caller's transaction; how many were new.

    Streams are locked in one order (device, stream), so two batches never wait on each other
    in a circle.
    """
    if not runs:
        return 0
    dialect = s.get_bind().dialect.name
    if dialect not in _SQL:
        raise HubError(f"unsupported database dialect {dialect!r}")
    cursor = s.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        ordered = sorted(runs, key=lambda r: (r.device, r.stream))
        return sum(_store_run(cursor, _SQL[dialect], run, now) for run in ordered)
    finally:
        cursor.close()


def store_records(
    s: Session, records: Sequence[WireRecord], now: float, *, readings: Sequence[Readings] = ()
) -> int:
    """Store the records (and runs of ``readings``) whose keys are new, in the caller's
    transaction; how many were new."""
    others, runs = split_readings(list(records))
    return _store_others(s, others, now) + store_readings(s, [*runs, *readings], now)


def registered(s: Session, names: Iterable[str]) -> set[str]:
    """Which of ``names`` are registered devices, not revoked."""
    return set(
        s.scalars(
            sa.select(Device.name).where(Device.name.in_(set(names)), Device.revoked.is_(None))
        )
    )


def ingest(
    s: Session,
    agent: Agent,
    records: Sequence[WireRecord],
    acked: Sequence[int],
    refused: Mapping[int, str] | None = None,
    *,
    readings: Sequence[Readings] = (),
) -> tuple[int, list[dict[str, Any]]]:
    """Store new records, mark acknowledged commands delivered (and why the agent ``refused``
    those it refused); (stored, pending commands).

    Runs in the caller's transaction, which commits the whole batch or none of it.
    """
    now = time.time()
    stored = store_records(s, records, now, readings=readings)
    if acked:
        s.execute(
            sa.update(Command)
            .where(
                Command.id.in_(acked),
                Command.device_id.in_(agent.device_ids),
                Command.delivered.is_(None),
            )
            .values(delivered=now)
        )
    for command, reason in (refused or {}).items():
        s.execute(
            sa.update(Command)
            .where(Command.id == command, Command.device_id.in_(agent.device_ids))
            .values(refused=reason)
        )
    pending = s.execute(
        sa.select(Command, Device.name)
        .join(Device, Device.id == Command.device_id)
        .where(Command.device_id.in_(agent.device_ids), Command.delivered.is_(None))
        .order_by(Command.id)
    ).all()
    commands = [
        {"id": c.id, "device": name, "kind": c.kind, "stream": c.stream, "body": c.body}
        for c, name in pending
    ]
    return stored, commands


def stored_keys(db_url: str) -> list[RecordKey]:
    """The key of every record stored at ``db_url``, in the order they were stored (within one
    transaction: the other records, then the readings).

    Benchmarks and tests use it to check exactly-once delivery.

    >>> import tempfile, os
    >>> from edgewise.hub import upgrade
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> stored_keys(url)
    []
    """
    r, c = StoredRecord, ReadingChunk
    with session(db_url) as s:
        found = [
            ((stored_at, 0, ident, 0), RecordKey(device, stream, kind, seq, name))
            for ident, stored_at, device, stream, kind, seq, name in s.execute(
                sa.select(r.id, r.stored_at, *(getattr(r, f) for f in RecordKey._fields))
            )
        ]
        for ident, stored_at, device, stream, data in s.execute(
            sa.select(c.id, c.stored_at, c.device, c.stream, c.data)
        ):
            found.extend(
                ((stored_at, 1, ident, i), RecordKey(device, stream, "reading", seq, ""))
                for i, seq in enumerate(unpack(data).seq.tolist())
            )
    return [key for _, key in sorted(found)]
