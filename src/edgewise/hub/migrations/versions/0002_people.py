"""People and the audit log: users, their sessions, audit entries; devices' signing keys.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copies of the column types, so a later change to the models cannot change this step.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place, existing devices keep their rows.
    op.add_column("devices", sa.Column("signing_key", sa.String(64), nullable=True))
    op.add_column("devices", sa.Column("decommissioned", sa.Double(), nullable=True))
    op.create_table(
        "users",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("disabled", sa.Double(), nullable=True),
    )
    op.create_table(
        "login_sessions",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("user_id", _ID, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("expires", sa.Double(), nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", _JSON, nullable=False),
    )
    op.create_index("audit_action_target_at", "audit", ["action", "target", "at"])


def downgrade() -> None:
    op.drop_index("audit_action_target_at", table_name="audit")
    for table in ("audit", "login_sessions", "users"):
        op.drop_table(table)
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of devices would break its foreign keys.
    op.drop_column("devices", "decommissioned")
    op.drop_column("devices", "signing_key")
