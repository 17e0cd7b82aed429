"""What the hub does to its database on ingest: who a token is, one ingest transaction.

Devices, their tokens and commands are kept by ``_devices``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ._db import session
from ._errors import HubError
from ._models import Command, Device, StoredRecord, Token, TokenDevice
from ._protocol import WireRecord
from ._secrets import digest

__all__ = [
    "Agent",
    "RecordKey",
    "authenticate_in",
    "ingest",
    "registered",
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


def store_records(s: Session, records: Sequence[WireRecord], now: float) -> int:
    """Store the records whose keys are new, in the caller's transaction; how many were new."""
    if not records:
        return 0
    dialect = s.get_bind().dialect.name
    # RETURNING names only the rows inserted: whatever else there was is a duplicate.
    if dialect == "postgresql":
        return _store_postgresql(s, records, now)
    if dialect == "sqlite":
        return _store_sqlite(s, records, now)
    raise HubError(f"unsupported database dialect {dialect!r}")


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
) -> tuple[int, list[dict[str, Any]]]:
    """Store new records, mark acknowledged commands delivered (and why the agent ``refused``
    those it refused); (stored, pending commands).

    Runs in the caller's transaction, which commits the whole batch or none of it.
    """
    now = time.time()
    stored = store_records(s, records, now)
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
    """The key of every record stored at ``db_url``, in the order they were stored.

    Benchmarks and tests use it to check exactly-once delivery.

    >>> import tempfile, os
    >>> from edgewise.hub import upgrade
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> stored_keys(url)
    []
    """
    with session(db_url) as s:
        rows = s.execute(
            sa.select(*(getattr(StoredRecord, f) for f in RecordKey._fields)).order_by(
                StoredRecord.id
            )
        ).all()
    return [RecordKey(*row) for row in rows]
