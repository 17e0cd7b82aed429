"""What the hub does to its database: devices and tokens, one ingest transaction, commands."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ._db import session
from ._errors import HubError
from ._models import Command, Device, StoredRecord, Token, TokenDevice
from ._protocol import WireRecord

__all__ = [
    "Agent",
    "RecordKey",
    "add_device",
    "authenticate_in",
    "ingest",
    "queue_command",
    "revoke_device",
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


def _digest(token: str) -> str:
    # A token is 256 random bits, so no one can guess it from its hash: a fast hash is as safe
    # as a slow password hash here and keeps every request cheap.
    return hashlib.sha256(token.encode()).hexdigest()


def _device(s: Session, name: str) -> Device | None:
    return s.scalars(sa.select(Device).where(Device.name == name)).one_or_none()


def add_device(db_url: str, name: str, *, covers: Sequence[str] = ()) -> str:
    """Add an agent's device and return its new token, the only time it is shown.

    The token covers ``name`` and every device in ``covers`` (devices the agent fronts).

    >>> import tempfile, os
    >>> from edgewise.hub import upgrade
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "hub.db")
    >>> upgrade(url)
    >>> token = add_device(url, "press-7", covers=["plc-1"])
    >>> len(token)  # 256 random bits, URL-safe base64
    43
    """
    names = list(dict.fromkeys([name, *covers]))
    for each in names:
        if not each or len(each) > 200:
            raise HubError(f"a device name has 1 to 200 characters, not {len(each)}")
    token = secrets.token_urlsafe(32)
    now = time.time()
    with session(db_url) as s:
        if _device(s, name) is not None:
            raise HubError(f"device {name!r} exists already")
        devices = []
        for each in names:
            device = _device(s, each)
            if device is None:
                device = Device(name=each, created=now)
                s.add(device)
            elif device.revoked is not None:
                raise HubError(f"device {each!r} is revoked")
            devices.append(device)
        s.flush()
        owner = Token(device_id=devices[0].id, sha256=_digest(token), created=now)
        s.add(owner)
        s.flush()
        s.add_all(TokenDevice(token_id=owner.id, device_id=d.id) for d in devices)
    return token


def revoke_device(db_url: str, name: str) -> None:
    """Revoke a device and every token it owns: its agent gets 401, its records 403."""
    now = time.time()
    with session(db_url) as s:
        device = _device(s, name)
        if device is None:
            raise HubError(f"no device named {name!r}")
        device.revoked = device.revoked or now
        s.execute(
            sa.update(Token)
            .where(Token.device_id == device.id, Token.revoked.is_(None))
            .values(revoked=now)
        )


def queue_command(
    db_url: str,
    device: str,
    kind: Literal["relearn", "pipeline"],
    *,
    stream: str | None = None,
    body: dict[str, Any] | None = None,
) -> int:
    """Queue a command for ``device``; its id. The next ingest of a covering agent carries it.

    ``relearn`` names a ``stream``; ``pipeline`` has ``body={"spec": {...}, "streams": glob}``.
    """
    body = body or {}
    if kind == "relearn" and not stream:
        raise HubError("a relearn command names the stream to relearn")
    if kind == "pipeline" and not (
        isinstance(body.get("spec"), dict) and isinstance(body.get("streams"), str)
    ):
        raise HubError('a pipeline command has body {"spec": {...}, "streams": "<glob>"}')
    if kind not in ("relearn", "pipeline"):
        raise HubError(f"unknown command kind {kind!r}: relearn or pipeline")
    with session(db_url) as s:
        found = _device(s, device)
        if found is None:
            raise HubError(f"no device named {device!r}")
        if found.revoked is not None:
            raise HubError(f"device {device!r} is revoked")
        command = Command(
            device_id=found.id, kind=kind, stream=stream, body=body, created=time.time()
        )
        s.add(command)
        s.flush()
        return command.id


def authenticate_in(s: Session, token: str) -> Agent | None:
    """The agent ``token`` belongs to, or None if it is unknown or revoked."""
    digest = _digest(token)
    owner = s.execute(
        sa.select(Device.name)
        .join(Token, Token.device_id == Device.id)
        .where(Token.sha256 == digest, Token.revoked.is_(None), Device.revoked.is_(None))
    ).one_or_none()
    if owner is None:
        return None
    covered = s.execute(
        sa.select(Device.id, Device.name)
        .join(TokenDevice, TokenDevice.device_id == Device.id)
        .join(Token, Token.id == TokenDevice.token_id)
        .where(Token.sha256 == digest, Device.revoked.is_(None))
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


def ingest(
    s: Session, agent: Agent, records: Sequence[WireRecord], acked: Sequence[int]
) -> tuple[int, list[dict[str, Any]]]:
    """Store new records, mark acknowledged commands delivered; (stored, pending commands).

    Runs in the caller's transaction, which commits the whole batch or none of it.
    """
    now = time.time()
    stored = 0
    if records:
        dialect = s.get_bind().dialect.name
        # RETURNING names only the rows inserted: whatever else there was is a duplicate.
        if dialect == "postgresql":
            stored = _store_postgresql(s, records, now)
        elif dialect == "sqlite":
            stored = _store_sqlite(s, records, now)
        else:
            raise HubError(f"unsupported database dialect {dialect!r}")
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
