"""Building blocks of the campaign tests against a real PostgreSQL: a campaign, its contacts
uploaded at a controlled time, and what the event consumer would write when calls end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.tables import CallRow, ContactRow
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases import campaigns, contact_upload
from web.models.campaigns import campaign_spec
from web.models.rules import ApiContext

POLICY = NumberPolicy()
# Monday 2026-11-30 10:00 in Tehran (UTC+03:30) is 06:30 UTC.
MONDAY_10_TEHRAN = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)


def make_campaign(sessions: sessionmaker[Session], trunks: TrunkTable,
                  **fields: object) -> uuid.UUID:
    body = {"name": "test", "max_lines": 3, **fields}
    spec = campaign_spec(body, ApiContext(NumberPolicy(), trunks))
    return campaigns.create_campaign(sessions, spec, None).id


def upload(sessions: sessionmaker[Session], cid: uuid.UUID, text: str,
           fmt: str = "csv", at: datetime = MONDAY_10_TEHRAN) -> contact_upload.UploadResult:
    """Contacts uploaded at ``at`` by the scenario's clock (their first due time)."""
    return contact_upload.upload_contacts(sessions, cid, text.splitlines(keepends=True), fmt,
                                          POLICY, clock=lambda: at)


def contacts(sessions: sessionmaker[Session], cid: uuid.UUID) -> dict[str, ContactRow]:
    with sessions() as session:
        rows = session.scalars(select(ContactRow).where(ContactRow.campaign_id == cid))
        return {r.to_number: r for r in rows}


def calls(sessions: sessionmaker[Session], cid: uuid.UUID) -> list[CallRow]:
    with sessions() as session:
        return list(session.scalars(select(CallRow).where(CallRow.campaign_id == cid)
                                    .order_by(CallRow.created_at)))


def end_calls(sessions: sessionmaker[Session], cid: uuid.UUID, status: str,
              outcome: str | None, at: datetime) -> None:
    """What the event consumer does when the PBX reports the end of each dialled call."""
    with sessions.begin() as session:
        session.execute(update(CallRow).where(CallRow.campaign_id == cid,
                                              CallRow.status == "queued")
                        .values(status=status, outcome=outcome, ended_at=at,
                                attempt_id=func.gen_random_uuid(), claimed_at=at))
