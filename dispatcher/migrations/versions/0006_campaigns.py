"""Campaigns: contacts, uploads with their reject reports, do-not-call lists, and the link
from a call to the campaign contact it dials.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_NOW = sa.text("now()")


def _tz(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("api_key_id", UUID(as_uuid=True), sa.ForeignKey("api_keys.id")),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trunk", sa.String(64), nullable=False),
        sa.Column("caller_id", sa.String(20)),
        sa.Column("max_lines", sa.Integer, nullable=False),
        sa.Column("cps", sa.Float),
        sa.Column("ring_timeout", sa.Integer, nullable=False),
        sa.Column("priority", sa.SmallInteger, nullable=False),
        sa.Column("target", JSONB),
        sa.Column("variables", JSONB, nullable=False),
        sa.Column("retry", JSONB, nullable=False),
        sa.Column("windows", JSONB, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("dnc_lists", JSONB, nullable=False),
        sa.Column("status_callback", sa.Text),
        sa.Column("callback_events", sa.String(100), nullable=False),
        _tz("created_at", nullable=False, server_default=_NOW),
        _tz("updated_at", nullable=False, server_default=_NOW),
        _tz("started_at"), _tz("paused_at"), _tz("ended_at"),
    )
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_index("ix_campaigns_created", "campaigns", ["created_at", "id"])
    op.create_table(
        "campaign_contacts",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        # No foreign key: see ContactRow (a per-row check would dominate bulk uploads).
        sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("to_number", sa.String(20), nullable=False),
        sa.Column("timezone", sa.String(64)),
        sa.Column("variables", JSONB, nullable=False),
        sa.Column("metadata", JSONB),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
        _tz("next_attempt_at", nullable=False, server_default=_NOW),
        sa.Column("last_call_id", UUID(as_uuid=True)),
        _tz("last_attempt_at"),
        _tz("updated_at", nullable=False, server_default=_NOW),
    )
    op.create_index("uq_contacts_campaign_number", "campaign_contacts",
                    ["campaign_id", "to_number"], unique=True)
    op.create_index("ix_contacts_due", "campaign_contacts",
                    ["campaign_id", "state", "next_attempt_at", "id"])
    op.create_table(
        "campaign_uploads",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("campaign_id", UUID(as_uuid=True),
                  sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("api_key_id", UUID(as_uuid=True), sa.ForeignKey("api_keys.id")),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("received", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        _tz("created_at", nullable=False, server_default=_NOW),
    )
    op.create_index("ix_campaign_uploads_campaign_id", "campaign_uploads", ["campaign_id"])
    op.create_index("uq_uploads_idempotency", "campaign_uploads",
                    ["campaign_id", "idempotency_key"], unique=True,
                    postgresql_where=sa.text("idempotency_key IS NOT NULL"))
    op.create_table(
        "campaign_upload_rejects",
        sa.Column("upload_id", UUID(as_uuid=True),
                  sa.ForeignKey("campaign_uploads.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("line", sa.Integer, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "dnc_lists",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.String(200)),
        _tz("created_at", nullable=False, server_default=_NOW),
    )
    op.create_table(
        "dnc_numbers",
        sa.Column("list_id", UUID(as_uuid=True),
                  sa.ForeignKey("dnc_lists.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("number", sa.String(20), primary_key=True),
        _tz("created_at", nullable=False, server_default=_NOW),
    )
    op.create_index("ix_dnc_numbers_number", "dnc_numbers", ["number"])
    op.add_column("calls", sa.Column("campaign_id", UUID(as_uuid=True),
                                     sa.ForeignKey("campaigns.id")))
    op.add_column("calls", sa.Column("contact_id", sa.BigInteger))
    op.add_column("calls", sa.Column("originate_target", JSONB))
    op.create_index("ix_calls_campaign_status", "calls", ["campaign_id", "status"],
                    postgresql_where=sa.text("campaign_id IS NOT NULL"))
    op.create_index("ix_calls_contact", "calls", ["contact_id"],
                    postgresql_where=sa.text("contact_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_calls_contact", "calls")
    op.drop_index("ix_calls_campaign_status", "calls")
    for column in ("originate_target", "contact_id", "campaign_id"):
        op.drop_column("calls", column)
    for table in ("dnc_numbers", "dnc_lists", "campaign_upload_rejects", "campaign_uploads",
                  "campaign_contacts", "campaigns"):
        op.drop_table(table)
