"""The hub's tables as typed SQLAlchemy models; ``migrations/`` creates and evolves them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AlertEvent",
    "AlertRow",
    "AlertTransition",
    "AuditEntry",
    "Base",
    "Command",
    "Device",
    "LoginSession",
    "ReadingChunk",
    "ReadingRollup",
    "ReadingStream",
    "StoredRecord",
    "Token",
    "TokenDevice",
    "User",
]

# SQLite makes only ``INTEGER PRIMARY KEY`` an alias of the row id (and so auto-incrementing).
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """The hub's declarative base: its ``metadata`` is the schema the migrations build."""


class Device(Base):
    """A device the hub knows: an agent, or a device an agent fronts; times in epoch seconds.

    ``signing_key`` is its Ed25519 public key (raw, base64), kept for attestation; a
    decommissioned device is revoked too, and its stored records are kept.
    """

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created: Mapped[float] = mapped_column(Double)
    revoked: Mapped[float | None] = mapped_column(Double)
    signing_key: Mapped[str | None] = mapped_column(String(64))
    decommissioned: Mapped[float | None] = mapped_column(Double)


class Token(Base):
    """An agent's bearer token, held as its SHA-256 only; it covers the devices it names."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[float] = mapped_column(Double)
    revoked: Mapped[float | None] = mapped_column(Double)


class TokenDevice(Base):
    """One device a token covers: the token may send that device's records and commands."""

    __tablename__ = "token_devices"

    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), primary_key=True)


class StoredRecord(Base):
    """A record other than a reading as the hub stores it: once per key (device, stream, kind,
    seq, name). Readings are stored by column, in :class:`ReadingChunk`."""

    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("device", "stream", "kind", "seq", "name", name="records_key"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    device: Mapped[str] = mapped_column(String(200))
    stream: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(200))
    timestamp: Mapped[float] = mapped_column(Double)
    received: Mapped[float | None] = mapped_column(Double)
    stored_at: Mapped[float] = mapped_column(Double)
    body: Mapped[dict[str, Any]] = mapped_column(Json)


class ReadingStream(Base):
    """One stream's readings as a whole: the highest seq stored (a batch above it cannot overlap
    a stored chunk), how many, the newest device time, when the last was stored, and its inputs.

    Ingest locks this row first (an upsert), so batches of one stream are stored one at a time.
    """

    __tablename__ = "reading_streams"

    device: Mapped[str] = mapped_column(String(200), primary_key=True)
    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq_max: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(BigInteger)
    last_t: Mapped[float] = mapped_column(Double)
    stored_at: Mapped[float] = mapped_column(Double)


class ReadingChunk(Base):
    """A run of one stream's readings stored together, by column (``_chunks.pack``).

    ``seq_lo``/``seq_hi`` and ``t_lo``/``t_hi`` bound its sequence numbers and device times.
    """

    __tablename__ = "reading_chunks"
    __table_args__ = (
        Index("reading_chunks_seq", "device", "stream", "seq_hi"),
        Index("reading_chunks_time", "device", "stream", "t_hi"),
        Index("reading_chunks_device_id", "device", "id"),
        Index("reading_chunks_stored_at", "stored_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    device: Mapped[str] = mapped_column(String(200))
    stream: Mapped[str] = mapped_column(String(200))
    seq_lo: Mapped[int] = mapped_column(BigInteger)
    seq_hi: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    t_lo: Mapped[float] = mapped_column(Double)
    t_hi: Mapped[float] = mapped_column(Double)
    stored_at: Mapped[float] = mapped_column(Double)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ReadingRollup(Base):
    """One input of one stream over one bucket of device time (``width`` seconds from
    ``start``): values counted, summed, lowest, highest; highest score, alarms; when it last
    changed (hub time, for retention)."""

    __tablename__ = "reading_rollups"
    __table_args__ = (Index("reading_rollups_updated", "width", "updated"),)

    device: Mapped[str] = mapped_column(String(200), primary_key=True)
    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    width: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    start: Mapped[float] = mapped_column(Double, primary_key=True)
    input: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float] = mapped_column(Double)
    low: Mapped[float] = mapped_column(Double)
    high: Mapped[float] = mapped_column(Double)
    score: Mapped[float | None] = mapped_column(Double)
    alarms: Mapped[int] = mapped_column(BigInteger)
    updated: Mapped[float] = mapped_column(Double)


class Command(Base):
    """A command for one device, pending until an agent acknowledges it (``delivered``), having
    applied it or refused it (``refused`` holds its reason)."""

    __tablename__ = "commands"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    stream: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(Json)
    created: Mapped[float] = mapped_column(Double)
    delivered: Mapped[float | None] = mapped_column(Double)
    refused: Mapped[str | None] = mapped_column(Text)  # the agent's reason, if it refused


class User(Base):
    """A person who signs in to the hub: an argon2 password hash and a role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created: Mapped[float] = mapped_column(Double)
    disabled: Mapped[float | None] = mapped_column(Double)


class LoginSession(Base):
    """A signed-in person's session, held as the SHA-256 of its cookie only."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[float] = mapped_column(Double)
    expires: Mapped[float] = mapped_column(Double)


class AuditEntry(Base):
    """One change or sign-in: who (``actor``), when (``at``), what (``action``) to what."""

    __tablename__ = "audit"
    # Failed sign-ins per name in a time window are counted here (the rate limit).
    __table_args__ = (Index("audit_action_target_at", "action", "target", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[float] = mapped_column(Double)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(Json)


class AlertRow(Base):
    """An alert of ``edgewise.hub.alerts`` as stored: repeats of one (device, stream, kind).

    ``starts`` keeps the key's recent episode starts (flapping), ``episode_seq`` the reading
    number of the open episode's alarm (its length when it ends), ``triage_*`` the decision.
    Ids are given by the inbox, under the alerts' lock, not by the database.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("alerts_key", "device", "stream", "kind", "id"),
        Index("alerts_state", "state", "id"),
        Index("alerts_site_last_at", "site", "last_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    device: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(200))
    stream: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16))
    first_at: Mapped[float] = mapped_column(Double)
    first_score: Mapped[float] = mapped_column(Double)
    explanation: Mapped[str | None] = mapped_column(Text)
    last_at: Mapped[float] = mapped_column(Double)
    count: Mapped[int] = mapped_column(Integer)
    peak_score: Mapped[float] = mapped_column(Double)
    episodes: Mapped[int] = mapped_column(Integer)
    longest_episode: Mapped[int] = mapped_column(Integer)
    episode_open: Mapped[bool] = mapped_column(Boolean)
    episode_seq: Mapped[int | None] = mapped_column(BigInteger)
    flapping: Mapped[bool] = mapped_column(Boolean)
    group_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    starts: Mapped[list[float]] = mapped_column(Json)
    triage_action: Mapped[str | None] = mapped_column(String(16))
    triage_reason: Mapped[str | None] = mapped_column(Text)
    triaged_at: Mapped[float | None] = mapped_column(Double)


class AlertTransition(Base):
    """One move of an alert's state: by whom (a person's name or ``triage``), when, why."""

    __tablename__ = "alert_transitions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[float] = mapped_column(Double)
    actor: Mapped[str] = mapped_column(String(200))
    before: Mapped[str] = mapped_column(String(16))
    after: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)


class AlertEvent(Base):
    """An event record folded into the alerts, by its idempotency key: each is folded once."""

    __tablename__ = "alert_events"

    device: Mapped[str] = mapped_column(String(200), primary_key=True)
    stream: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(BigInteger)
