"""API keys expire and carry scopes; calls remember which key canceled them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("api_keys", sa.Column("scopes", sa.String(200), nullable=False,
                                        server_default="calls:read calls:write"))
    op.add_column("calls", sa.Column("canceled_by_key_id", pg.UUID(as_uuid=True),
                                     sa.ForeignKey("api_keys.id")))


def downgrade() -> None:
    op.drop_column("calls", "canceled_by_key_id")
    op.drop_column("api_keys", "scopes")
    op.drop_column("api_keys", "expires_at")
