"""Calls know their trunk, priority and source (API or campaign) for line admission.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("trunk", sa.String(64), nullable=False,
                                     server_default="carrier-trunk"))
    op.add_column("calls", sa.Column("priority", sa.SmallInteger, nullable=False,
                                     server_default="5"))
    op.add_column("calls", sa.Column("source", sa.String(16), nullable=False,
                                     server_default="api"))
    op.create_check_constraint("ck_calls_priority", "calls", "priority BETWEEN 0 AND 9")
    op.create_index("ix_calls_trunk_status", "calls", ["trunk", "status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_trunk_status", "calls")
    op.drop_constraint("ck_calls_priority", "calls")
    op.drop_column("calls", "source")
    op.drop_column("calls", "priority")
    op.drop_column("calls", "trunk")
