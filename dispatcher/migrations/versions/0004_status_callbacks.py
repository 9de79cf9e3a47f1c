"""Status callbacks: per-call target and events, per-key signing secret, delivery outbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("calls", sa.Column("status_callback", sa.Text))
    op.add_column("calls", sa.Column("callback_events", sa.String(100), nullable=False,
                                     server_default="completed"))
    op.add_column("calls", sa.Column("callback_seq", sa.Integer, nullable=False,
                                     server_default="0"))
    op.add_column("api_keys", sa.Column("callback_secret", sa.String(64)))
    op.execute("UPDATE api_keys SET callback_secret = md5(random()::text || id::text) || "
               "md5(clock_timestamp()::text || random()::text)")
    op.create_table(
        "callback_deliveries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("call_id", pg.UUID(as_uuid=True),
                  sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("next_attempt_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("delivered_at", TS),
        sa.UniqueConstraint("call_id", "sequence", name="uq_callback_call_sequence"),
    )
    op.create_index("ix_callback_due", "callback_deliveries", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("callback_deliveries")
    op.drop_column("api_keys", "callback_secret")
    op.drop_column("calls", "callback_seq")
    op.drop_column("calls", "callback_events")
    op.drop_column("calls", "status_callback")
