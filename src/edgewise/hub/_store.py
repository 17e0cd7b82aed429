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

from ._db import session
from ._errors import HubError
from ._chunks import Readings, pack, rollups, unpack
from ._models import (
    Command,
    Device,
    ReadingChunk,
    ReadingRollup,
    ReadingStream,
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


def _insert(s: Session) -> Any:
    """The dialect's ``insert``, which has ``on_conflict_*``."""
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


def _lock_stream(s: Session, run: Readings, now: float) -> int:
    """Lock ``run``'s stream row (made if new) until the commit; its highest stored seq."""
    r = ReadingStream
    # An upsert that changes nothing still takes the row's lock on PostgreSQL, and on SQLite
    # the write lock: batches of one stream are checked and stored one at a time.
    statement = (
        _insert(s)(r)
        .values(
            device=run.device, stream=run.stream, seq_max=-1, count=0,
            last_t=min(run.timestamp), stored_at=now,
        )  # fmt: skip
        .on_conflict_do_update(index_elements=[r.device, r.stream], set_={"seq_max": r.seq_max})
        .returning(r.seq_max)
    )
    return int(s.execute(statement).scalar_one())


def _new_indices(s: Session, run: Readings, seq_max: int) -> list[int] | None:
    """The indices of ``run``'s readings whose seq is stored nowhere yet, the first of each seq
    when the batch holds it twice; None when all are new."""
    seq = np.asarray(run.seq, dtype=np.int64)
    unique, first = np.unique(seq, return_index=True)
    keep = np.ones(len(seq), dtype=np.bool_) if len(unique) == len(seq) else None
    if keep is None:
        keep = np.zeros(len(seq), dtype=np.bool_)
        keep[first] = True
    if int(unique[0]) <= seq_max:
        # A resend, or a stream sent out of order: look in the chunks it may overlap.
        c = ReadingChunk
        overlapping = s.scalars(
            sa.select(c.data).where(
                c.device == run.device,
                c.stream == run.stream,
                c.seq_hi >= int(unique[0]),
                c.seq_lo <= int(unique[-1]),
            )
        )
        for data in overlapping:
            keep &= ~np.isin(seq, unpack(data).seq)
    return None if keep.all() else np.flatnonzero(keep).tolist()


def _highest(s: Session, a: Any, b: Any, *, lowest: bool = False) -> Any:
    """The SQL for the larger (or smaller) of ``a`` and ``b``, a NULL losing to a number."""
    if s.get_bind().dialect.name == "postgresql":  # LEAST and GREATEST skip NULLs
        return sa.func.least(a, b) if lowest else sa.func.greatest(a, b)
    pick = sa.func.min if lowest else sa.func.max  # SQLite's min(a, b) is NULL if either is
    return pick(sa.func.coalesce(a, b), sa.func.coalesce(b, a))


def _add_rollups(s: Session, run: Readings, now: float) -> None:
    rows = [
        {"device": run.device, "stream": run.stream, "updated": now, **msgspec.structs.asdict(u)}
        for u in rollups(run)
    ]
    if not rows:
        return
    r = ReadingRollup
    insert = _insert(s)(r)
    new = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=[r.device, r.stream, r.width, r.start, r.input],
        set_={
            "count": r.count + new.count,
            "total": r.total + new.total,
            "low": _highest(s, r.low, new.low, lowest=True),
            "high": _highest(s, r.high, new.high),
            "score": _highest(s, r.score, new.score),
            "alarms": r.alarms + new.alarms,
            "updated": new.updated,
        },
    )
    s.execute(statement, rows)


def _store_run(s: Session, run: Readings, now: float) -> int:
    seq_max = _lock_stream(s, run, now)
    chosen = _new_indices(s, run, seq_max)
    if chosen is not None:
        run = run.keep(chosen)
    if not len(run):
        return 0
    chunks = [
        run.keep(range(lo, min(lo + CHUNK_READINGS, len(run))))
        for lo in range(0, len(run), CHUNK_READINGS)
    ] if len(run) > CHUNK_READINGS else [run]  # fmt: skip
    s.execute(
        sa.insert(ReadingChunk),
        [
            {
                "device": run.device, "stream": run.stream, "seq_lo": min(chunk.seq),
                "seq_hi": max(chunk.seq), "count": len(chunk), "t_lo": min(chunk.timestamp),
                "t_hi": max(chunk.timestamp), "stored_at": now, "data": pack(chunk),
            }  # fmt: skip
            for chunk in chunks
        ],
    )
    _add_rollups(s, run, now)
    r = ReadingStream
    s.execute(
        sa.update(r)
        .where(r.device == run.device, r.stream == run.stream)
        .values(
            seq_max=_highest(s, r.seq_max, max(run.seq)),
            count=r.count + len(run),
            last_t=_highest(s, r.last_t, max(run.timestamp)),
            stored_at=now,
        )
    )
    return len(run)


def store_readings(s: Session, runs: Sequence[Readings], now: float) -> int:
    """Store the readings whose keys are new, in the caller's transaction; how many were new.

    Streams are locked in one order (device, stream), so two batches never wait on each other
    in a circle.
    """
    return sum(_store_run(s, run, now) for run in sorted(runs, key=lambda r: (r.device, r.stream)))


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
