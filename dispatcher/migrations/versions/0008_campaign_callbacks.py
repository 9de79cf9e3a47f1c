"""Campaign lifecycle callbacks go through the same outbox as call callbacks: a delivery
belongs to a call or to a campaign, and event names get room for ``campaign.completed``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("callback_deliveries", "call_id", nullable=True)
    op.alter_column("callback_deliveries", "event", type_=sa.String(32))
    op.add_column("callback_deliveries", sa.Column(
        "campaign_id", UUID(as_uuid=True), sa.ForeignKey("campaigns.id", ondelete="CASCADE")))
    op.create_check_constraint("ck_callback_owner", "callback_deliveries",
                               "call_id IS NOT NULL OR campaign_id IS NOT NULL")
    op.create_unique_constraint("uq_callback_campaign_sequence", "callback_deliveries",
                                ["campaign_id", "sequence"])
    op.add_column("campaigns", sa.Column("callback_seq", sa.Integer, nullable=False,
                                         server_default="0"))


def downgrade() -> None:
    op.drop_column("campaigns", "callback_seq")
    op.drop_constraint("uq_callback_campaign_sequence", "callback_deliveries")
    op.drop_constraint("ck_callback_owner", "callback_deliveries")
    op.drop_column("callback_deliveries", "campaign_id")
    op.alter_column("callback_deliveries", "event", type_=sa.String(16))
    op.alter_column("callback_deliveries", "call_id", nullable=False)
