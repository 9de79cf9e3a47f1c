"""Per-key limits: requests per second and calls in progress at once (NULL: unlimited).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("rate_limit", sa.Integer))
    op.add_column("api_keys", sa.Column("max_active_calls", sa.Integer))
    op.create_index("ix_calls_key_status", "calls", ["api_key_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_calls_key_status", "calls")
    op.drop_column("api_keys", "max_active_calls")
    op.drop_column("api_keys", "rate_limit")
