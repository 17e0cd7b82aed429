"""The first schema: devices, their tokens, stored records, commands.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types, so a later change to the models cannot change this step.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("revoked", sa.Double(), nullable=True),
    )
    op.create_table(
        "tokens",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("device_id", _ID, sa.ForeignKey("devices.id"), nullable=False, index=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("revoked", sa.Double(), nullable=True),
    )
    op.create_table(
        "token_devices",
        sa.Column("token_id", _ID, sa.ForeignKey("tokens.id"), primary_key=True),
        sa.Column("device_id", _ID, sa.ForeignKey("devices.id"), primary_key=True),
    )
    op.create_table(
        "records",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.Column("received", sa.Double(), nullable=True),
        sa.Column("stored_at", sa.Double(), nullable=False),
        sa.Column("body", _JSON, nullable=False),
        sa.UniqueConstraint("device", "stream", "kind", "seq", "name", name="records_key"),
    )
    op.create_table(
        "commands",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("device_id", _ID, sa.ForeignKey("devices.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("stream", sa.String(200), nullable=True),
        sa.Column("body", _JSON, nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("delivered", sa.Double(), nullable=True),
    )


def downgrade() -> None:
    for table in ("commands", "records", "token_devices", "tokens", "devices"):
        op.drop_table(table)
