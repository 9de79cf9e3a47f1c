"""Core tables: API keys, calls, their AMI event log, consumer connection epochs.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "calls",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("api_key_id", pg.UUID(as_uuid=True), sa.ForeignKey("api_keys.id")),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("to_number", sa.String(20), nullable=False),
        sa.Column("dial_string", sa.String(160), nullable=False),
        sa.Column("caller_id", sa.String(20)),
        sa.Column("ring_timeout", sa.Integer, nullable=False),
        sa.Column("variables", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("metadata", pg.JSONB),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("hangup_cause", sa.Integer),
        sa.Column("hangup_cause_text", sa.String(64)),
        sa.Column("sip_code", sa.Integer),
        sa.Column("attempt_id", pg.UUID(as_uuid=True), unique=True),
        sa.Column("channel", sa.String(160)),
        sa.Column("dial_error", sa.Text),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("published_at", TS),
        sa.Column("claimed_at", TS),
        sa.Column("dialed_at", TS),
        sa.Column("ringing_at", TS),
        sa.Column("answered_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("cancel_requested_at", TS),
        sa.CheckConstraint(
            "status IN ('queued','initiated','ringing','in-progress','completed','busy',"
            "'no-answer','failed','canceled')", name="ck_calls_status"),
    )
    op.create_index("uq_calls_idempotency", "calls", ["api_key_id", "idempotency_key"],
                    unique=True, postgresql_where=sa.text("idempotency_key IS NOT NULL"))
    op.create_index("ix_calls_created", "calls", ["created_at", "id"])
    op.create_index("ix_calls_status_created", "calls", ["status", "created_at"])
    op.create_index("ix_calls_to_created", "calls", ["to_number", "created_at"])
    op.create_table(
        "call_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("call_id", pg.UUID(as_uuid=True),
                  sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("event_at", TS, nullable=False),
        sa.Column("received_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("event_key", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])
    op.create_table(
        "consumer_sessions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("connected_at", TS, nullable=False),
        sa.Column("disconnected_at", TS),
        sa.Column("pbx_uptime", sa.String(40)),
    )


def downgrade() -> None:
    op.drop_table("consumer_sessions")
    op.drop_table("call_events")
    op.drop_table("calls")
    op.drop_table("api_keys")
