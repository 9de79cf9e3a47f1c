"""Which upload brought each contact, so an export over two files tells their "line 2"s apart.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default and no foreign key: adding it rewrites nothing, and contacts go with
    # their campaign as their uploads do. Contacts loaded before this revision have none.
    op.add_column("campaign_contacts", sa.Column("upload_id", pg.UUID(as_uuid=True)))


def downgrade() -> None:
    op.drop_column("campaign_contacts", "upload_id")
