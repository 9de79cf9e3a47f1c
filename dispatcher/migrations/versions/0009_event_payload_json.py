"""Store AMI event payloads as ``json`` rather than ``jsonb``.

The event log is written at the PBX's event rate and read back only whole, per call; ``jsonb``
cost PostgreSQL about a third of the consumer's insert time in parsing and re-encoding, and
it reorders headers, while ``json`` keeps the text as it was sent. Nothing queries into it.

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


def downgrade() -> None:
    op.alter_column("call_events", "payload", type_=pg.JSONB,
                    postgresql_using="payload::jsonb")
