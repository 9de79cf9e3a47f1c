"""Campaign call counts kept as calls change, not counted at every read.

``GET /v1/campaigns/{id}`` grouped a campaign's calls by status on each read, a cost that grew
with every call the campaign dialled. Statement-level triggers on ``calls`` now add one row per
(campaign, status) a statement changed, with the difference, in the statement's own
transaction, as migration 0012 does for contacts; a read sums a campaign's rows. Only the calls
the counts have always shown are counted: a campaign's attempts (a call with an ``attempt_id``)
and its calls still queued, not calls taken back before any dial.

The table is insert-only, so the event consumer, the dial claim and the hopper, which change
calls concurrently, never wait on one counter row. The purge task folds the rows into one per
(campaign, status), marked ``at = -infinity``; nothing reads a call tally's time, so it folds
them whatever their age. Calls the purge deletes are subtracted by the same triggers.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# What the counts cover; the same condition in the function and in the backfill.
_COUNTED = "campaign_id IS NOT NULL AND (attempt_id IS NOT NULL OR status = 'queued')"
_FUNCTION = f"""
CREATE FUNCTION tally_campaign_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO campaign_call_tallies (campaign_id, status, n)
    SELECT campaign_id, status, count(*) FROM new_rows WHERE {_COUNTED} GROUP BY 1, 2;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO campaign_call_tallies (campaign_id, status, n)
    SELECT campaign_id, status, -count(*) FROM old_rows WHERE {_COUNTED} GROUP BY 1, 2;
  ELSE
    INSERT INTO campaign_call_tallies (campaign_id, status, n)
    SELECT campaign_id, status, sum(d) FROM (
        SELECT campaign_id, status, 1 AS d FROM new_rows WHERE {_COUNTED}
        UNION ALL
        SELECT campaign_id, status, -1 FROM old_rows WHERE {_COUNTED}) AS changed
     GROUP BY 1, 2 HAVING sum(d) <> 0;
  END IF;
  RETURN NULL;
END $$
"""
_TRIGGERS = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_table(
        "campaign_call_tallies",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    )
    op.create_index("ix_call_tallies_campaign", "campaign_call_tallies", ["campaign_id"])
    op.create_index("uq_call_tallies_compacted", "campaign_call_tallies",
                    ["campaign_id", "status"], unique=True,
                    postgresql_where=sa.text("at = '-infinity'"))
    op.execute(_FUNCTION)
    for event, tables in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER call_tally_{event.lower()} AFTER {event} ON calls "
                   f"{tables} FOR EACH STATEMENT EXECUTE FUNCTION tally_campaign_calls()")
    # What is there already, as one compacted row per (campaign, status). CREATE TRIGGER
    # holds a lock that keeps writers of ``calls`` out until this transaction commits, so no
    # change falls between the count and the triggers.
    op.execute("INSERT INTO campaign_call_tallies (campaign_id, status, n, at) "
               f"SELECT campaign_id, status, count(*), '-infinity' FROM calls WHERE {_COUNTED} "
               "GROUP BY 1, 2")


def downgrade() -> None:
    for event in _TRIGGERS:
        op.execute(f"DROP TRIGGER call_tally_{event.lower()} ON calls")
    op.execute("DROP FUNCTION tally_campaign_calls()")
    op.drop_table("campaign_call_tallies")
