"""The event log's write path: ``json`` payloads and no per-row foreign key.

The event log is written at the PBX's event rate and read back only whole, per call.
``jsonb`` cost PostgreSQL about a third of the consumer's insert time in parsing and
re-encoding, and reorders headers, while ``json`` keeps the text as it was sent; nothing
queries into it. The foreign key to ``calls`` cost a lookup per row (another quarter): rows are
only ever inserted joined to their call (``CallRepository.record_events``), and calls are never
deleted, so the key guarded nothing the insert does not.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("call_events", "payload", type_=sa.JSON, postgresql_using="payload::json")
    op.drop_constraint("call_events_call_id_fkey", "call_events", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key("call_events_call_id_fkey", "call_events", "calls", ["call_id"],
                          ["id"], ondelete="CASCADE")
    op.alter_column("call_events", "payload", type_=pg.JSONB,
                    postgresql_using="payload::jsonb")
