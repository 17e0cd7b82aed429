"""Readings by column: chunks, per-stream rows and rollups; stored readings move into chunks.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copies of the column types, so a later change to the models cannot change this step.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_KEY = ("device", "stream")


def upgrade() -> None:
    op.create_table(
        "reading_streams",
        sa.Column("device", sa.String(200), primary_key=True),
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("seq_max", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_t", sa.Double(), nullable=False),
        sa.Column("stored_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "reading_chunks",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("seq_lo", sa.BigInteger(), nullable=False),
        sa.Column("seq_hi", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("t_lo", sa.Double(), nullable=False),
        sa.Column("t_hi", sa.Double(), nullable=False),
        sa.Column("stored_at", sa.Double(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_index("reading_chunks_seq", "reading_chunks", [*_KEY, "seq_hi"])
    op.create_index("reading_chunks_time", "reading_chunks", [*_KEY, "t_hi"])
    op.create_index("reading_chunks_device_id", "reading_chunks", ["device", "id"])
    op.create_index("reading_chunks_stored_at", "reading_chunks", ["stored_at"])
    op.create_table(
        "reading_rollups",
        sa.Column("device", sa.String(200), primary_key=True),
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("width", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("start", sa.Double(), primary_key=True),
        sa.Column("input", sa.String(200), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Double(), nullable=False),
        sa.Column("low", sa.Double(), nullable=False),
        sa.Column("high", sa.Double(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("alarms", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
    )
    op.create_index("reading_rollups_updated", "reading_rollups", ["width", "updated"])
    _move_readings()


def _move_readings() -> None:
    """Readings stored one row each move into chunks, grouped by the batch that stored them."""
    from edgewise.hub._chunks import Readings
    from edgewise.hub._store import store_readings

    records = sa.table(
        "records",
        *(sa.column(c) for c in (*_KEY, "kind", "seq", "timestamp", "received", "stored_at")),
        sa.column("body", sa.JSON()),
    )
    r = records.c
    rows = op.get_bind().execute(
        sa.select(r.device, r.stream, r.seq, r.timestamp, r.received, r.stored_at, r.body)
        .where(r.kind == "reading")
        .order_by(r.stored_at, r.device, r.stream, r.seq)
    )
    session = Session(bind=op.get_bind())
    batches: dict[tuple[str, str, float], list[Any]] = {}
    for row in rows:
        batches.setdefault((row.device, row.stream, row.stored_at), []).append(row)
    for (device, stream, stored_at), batch in batches.items():
        run = Readings.of_bodies(
            device,
            stream,
            seq=[r.seq for r in batch],
            timestamp=[r.timestamp for r in batch],
            received=[r.received for r in batch],
            bodies=[r.body for r in batch],
        )
        store_readings(session, [run], stored_at)
    op.execute(sa.delete(records).where(r.kind == "reading"))


def downgrade() -> None:
    from edgewise.hub._chunks import unpack

    chunks = sa.table("reading_chunks", *(sa.column(c) for c in ("id", *_KEY, "stored_at", "data")))
    records = sa.table(
        "records",
        *(sa.column(c) for c in (*_KEY, "kind", "seq", "name", "timestamp", "received")),
        sa.column("stored_at"),
        sa.column("body", sa.JSON()),
    )
    bind = op.get_bind()
    c = chunks.c
    for device, stream, stored_at, data in bind.execute(
        sa.select(c.device, c.stream, c.stored_at, c.data).order_by(c.id)
    ).all():
        rows = [
            {**record, "stored_at": stored_at} for record in unpack(data, device, stream).records()
        ]
        bind.execute(sa.insert(records), rows)
    for table in ("reading_rollups", "reading_chunks", "reading_streams"):
        op.drop_table(table)
