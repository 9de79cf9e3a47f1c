"""How far the purge of old history has gone (``dispatcher.usecases.retention``).

The purge walks calls in creation order (``ix_calls_created``) and deletes their event log,
and with a call retention set, the calls themselves. Remembering where it stopped keeps each
run to the calls that newly passed their retention, instead of scanning a year of history
every minute, and needs no index on ``call_events`` beyond the one on ``call_id``, so the
event consumer's inserts cost what they did.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_marks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("upto_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("upto_id", pg.UUID(as_uuid=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("retention_marks")
