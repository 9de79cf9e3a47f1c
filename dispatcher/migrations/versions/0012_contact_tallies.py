"""Campaign contact counts kept as they change, not counted at every read.

``GET /v1/campaigns/{id}`` grouped a campaign's contacts by state and outcome on each read:
about 250 ms for a million contacts. Statement-level triggers on ``campaign_contacts`` now add
one row per (campaign, state, outcome) a statement changed, with the difference, in the
statement's own transaction; a read sums a campaign's rows. The table is insert-only, so a
long upload never holds a row the hopper needs (one counter row per state would). The purge
task folds old rows into one per (campaign, state, outcome), marked ``at = -infinity``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# A tally is dated by the change it counts (the rows' updated_at, which the code sets from
# its clock), not by the database's clock, so a campaign's rate reads the same clock as the
# hopper that moved its contacts.
_FUNCTION = """
CREATE FUNCTION tally_campaign_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO campaign_contact_tallies (campaign_id, state, outcome, n, at)
    SELECT campaign_id, state, outcome, count(*), coalesce(max(updated_at), now())
      FROM new_rows GROUP BY 1, 2, 3;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO campaign_contact_tallies (campaign_id, state, outcome, n)
    SELECT campaign_id, state, outcome, -count(*) FROM old_rows GROUP BY 1, 2, 3;
  ELSE
    INSERT INTO campaign_contact_tallies (campaign_id, state, outcome, n, at)
    SELECT campaign_id, state, outcome, sum(d),
           coalesce((SELECT max(updated_at) FROM new_rows), now()) FROM (
        SELECT campaign_id, state, outcome, 1 AS d FROM new_rows
        UNION ALL
        SELECT campaign_id, state, outcome, -1 FROM old_rows) AS changed
     GROUP BY 1, 2, 3 HAVING sum(d) <> 0;
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
        "campaign_contact_tallies",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    )
    op.create_index("ix_tallies_campaign", "campaign_contact_tallies", ["campaign_id", "at"])
    op.create_index("uq_tallies_compacted", "campaign_contact_tallies",
                    ["campaign_id", "state", sa.text("coalesce(outcome, '')")], unique=True,
                    postgresql_where=sa.text("at = '-infinity'"))
    op.execute(_FUNCTION)
    for event, tables in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER tally_{event.lower()} AFTER {event} ON campaign_contacts "
                   f"{tables} FOR EACH STATEMENT EXECUTE FUNCTION tally_campaign_contacts()")
    # What is there already, as one compacted row per (campaign, state, outcome).
    op.execute("INSERT INTO campaign_contact_tallies (campaign_id, state, outcome, n, at) "
               "SELECT campaign_id, state, outcome, count(*), '-infinity' "
               "FROM campaign_contacts GROUP BY 1, 2, 3")


def downgrade() -> None:
    for event in _TRIGGERS:
        op.execute(f"DROP TRIGGER tally_{event.lower()} ON campaign_contacts")
    op.execute("DROP FUNCTION tally_campaign_contacts()")
    op.drop_table("campaign_contact_tallies")
