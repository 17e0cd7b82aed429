"""Alerts: the inbox's alerts, their transitions, and the event records already folded in.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copies of the column types, so a later change to the models cannot change this step.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("site", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("first_at", sa.Double(), nullable=False),
        sa.Column("first_score", sa.Double(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("last_at", sa.Double(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("peak_score", sa.Double(), nullable=False),
        sa.Column("episodes", sa.Integer(), nullable=False),
        sa.Column("longest_episode", sa.Integer(), nullable=False),
        sa.Column("episode_open", sa.Boolean(), nullable=False),
        sa.Column("episode_seq", sa.BigInteger(), nullable=True),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("starts", _JSON, nullable=False),
        sa.Column("triage_action", sa.String(16), nullable=True),
        sa.Column("triage_reason", sa.Text(), nullable=True),
        sa.Column("triaged_at", sa.Double(), nullable=True),
    )
    op.create_index("alerts_key", "alerts", ["device", "stream", "kind", "id"])
    op.create_index("alerts_state", "alerts", ["state", "id"])
    op.create_index("alerts_site_last_at", "alerts", ["site", "last_at"])
    op.create_table(
        "alert_transitions",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("alert_id", sa.BigInteger(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("before", sa.String(16), nullable=False),
        sa.Column("after", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_alert_transitions_alert_id", "alert_transitions", ["alert_id"], unique=False
    )
    op.create_table(
        "alert_events",
        sa.Column("device", sa.String(200), primary_key=True),
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("alert_events")
    op.drop_index("ix_alert_transitions_alert_id", table_name="alert_transitions")
    op.drop_table("alert_transitions")
    for index in ("alerts_site_last_at", "alerts_state", "alerts_key"):
        op.drop_index(index, table_name="alerts")
    op.drop_table("alerts")
