"""Campaigns in PostgreSQL: the rows, their history, and the counts their progress is read
from. Pause and cancel are set-based SQL over the campaign's calls and contacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.orm import Session

from dispatcher.adapters.db.bookkeeping import CallTallyRow, ContactTallyRow
from dispatcher.adapters.db.tables import (
    ApiKeyRow,
    CallRow,
    CampaignHistoryRow,
    CampaignRow,
    ContactRow,
)
from dispatcher.domain.status import CallStatus


class CampaignRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- campaigns ------------------------------------------------------------------------
    def add(self, row: CampaignRow) -> None:
        self.session.add(row)
        self.session.flush()

    def get(self, campaign_id: uuid.UUID, *, lock: str | None = None) -> CampaignRow | None:
        """``update``: FOR NO KEY UPDATE (the hopper, lifecycle changes): it excludes the
        dial guard's and the upload's share locks, but not the key-share lock the foreign keys
        of an upload in progress hold, so a long upload never holds up the hopper."""
        stmt = select(CampaignRow).where(CampaignRow.id == campaign_id)
        if lock == "update":
            stmt = stmt.with_for_update(key_share=True)
        elif lock == "share":
            stmt = stmt.with_for_update(read=True)
        return self.session.scalars(stmt).first()

    def page(self, status: str | None, limit: int,
             after: tuple[datetime, uuid.UUID] | None) -> list[CampaignRow]:
        stmt = select(CampaignRow)
        if status:
            stmt = stmt.where(CampaignRow.status == status)
        if after:
            created, last_id = after
            stmt = stmt.where((CampaignRow.created_at < created)
                              | and_(CampaignRow.created_at == created, CampaignRow.id < last_id))
        stmt = stmt.order_by(CampaignRow.created_at.desc(), CampaignRow.id.desc()).limit(limit)
        return list(self.session.scalars(stmt))

    def live(self, ended_after: datetime, limit: int) -> list[CampaignRow]:
        stmt = (select(CampaignRow)
                .where(CampaignRow.status.in_(("running", "paused"))
                       | (CampaignRow.ended_at > ended_after))
                .order_by(CampaignRow.created_at.desc()).limit(limit))
        return list(self.session.scalars(stmt))

    def active_ids(self) -> list[uuid.UUID]:
        """Campaigns the hopper has work for: running ones, and stopped ones whose last calls
        are still to be settled."""
        stmt = text("""
            SELECT id FROM campaigns WHERE status = 'running'
            UNION
            SELECT DISTINCT campaign_id FROM campaign_contacts
             WHERE state = 'dialing' AND campaign_id IN
                   (SELECT id FROM campaigns WHERE status IN ('paused', 'canceled'))""")
        return [r[0] for r in self.session.execute(stmt)]

    def running_lines(self, trunk: str) -> int:
        """Lines asked for by all running campaigns on a trunk (their shares divide it)."""
        stmt = select(func.coalesce(func.sum(CampaignRow.max_lines), 0)).where(
            CampaignRow.trunk == trunk, CampaignRow.status == "running")
        return int(self.session.scalar(stmt) or 0)

    def note(self, campaign_id: uuid.UUID, action: str, api_key_id: uuid.UUID | None,
             at: datetime, detail: dict[str, Any] | None = None) -> None:
        self.session.add(CampaignHistoryRow(campaign_id=campaign_id, action=action,
                                            api_key_id=api_key_id, at=at, detail=detail))


    def history(self, campaign_id: uuid.UUID) -> list[CampaignHistoryRow]:
        stmt = (select(CampaignHistoryRow).where(CampaignHistoryRow.campaign_id == campaign_id)
                .order_by(CampaignHistoryRow.id))
        return list(self.session.scalars(stmt))

    def last_actor(self, campaign_id: uuid.UUID, action: str) -> str | None:
        """The name of the key that last took ``action`` on the campaign, if a key did."""
        stmt = (select(ApiKeyRow.name).join(CampaignHistoryRow,
                                             CampaignHistoryRow.api_key_id == ApiKeyRow.id)
                .where(CampaignHistoryRow.campaign_id == campaign_id,
                       CampaignHistoryRow.action == action)
                .order_by(CampaignHistoryRow.id.desc()).limit(1))
        return self.session.scalars(stmt).first()

    # --- statistics -----------------------------------------------------------------------
    def pending_schedule(self, campaign_id: uuid.UUID,
                         now: datetime) -> tuple[int, datetime | None, datetime | None]:
        """Whether any pending contact is due now (0 or 1), and the earliest and latest next
        attempt among pending contacts. Two walks of one end of ``ix_contacts_due`` each,
        so a campaign of a million contacts costs what one of ten does."""
        pending = (select(ContactRow.next_attempt_at)
                   .where(ContactRow.campaign_id == campaign_id, ContactRow.state == "pending"))
        first = self.session.scalar(pending.order_by(ContactRow.next_attempt_at).limit(1))
        last = self.session.scalar(pending.order_by(ContactRow.next_attempt_at.desc()).limit(1))
        return int(first is not None and first <= now), first, last

    def contact_counts(self, campaign_id: uuid.UUID) -> dict[str, int]:
        """Contacts by state, from the tallies the triggers keep (migration 0012)."""
        rows = self.session.execute(
            select(ContactTallyRow.state, func.sum(ContactTallyRow.n))
            .where(ContactTallyRow.campaign_id == campaign_id)
            .group_by(ContactTallyRow.state))
        return {state: int(n) for state, n in rows if n}

    def outcome_counts(self, campaign_id: uuid.UUID) -> dict[str, int]:
        rows = self.session.execute(
            select(ContactTallyRow.outcome, func.sum(ContactTallyRow.n))
            .where(ContactTallyRow.campaign_id == campaign_id,
                   ContactTallyRow.state.in_(("done", "skipped")))
            .group_by(ContactTallyRow.outcome))
        return {outcome or "unknown": int(n) for outcome, n in rows if n}

    def call_counts(self, campaign_id: uuid.UUID) -> dict[str, int]:
        """Calls by status, counting attempts and calls still queued (not calls withdrawn
        before a dial), from the tallies the triggers keep (migration 0013): grouping the
        calls themselves cost more with every call the campaign dialled."""
        rows = self.session.execute(
            select(CallTallyRow.status, func.sum(CallTallyRow.n))
            .where(CallTallyRow.campaign_id == campaign_id)
            .group_by(CallTallyRow.status))
        return {status: int(n) for status, n in rows if n}

    def finished_since(self, campaign_id: uuid.UUID, since: datetime) -> int:
        """Contacts that reached done or skipped since then (the tallies of the last minutes
        are kept apart until they are ten minutes old)."""
        stmt = select(func.coalesce(func.sum(ContactTallyRow.n), 0)).where(
            ContactTallyRow.campaign_id == campaign_id,
            ContactTallyRow.state.in_(("done", "skipped")), ContactTallyRow.n > 0,
            ContactTallyRow.at >= since)
        return int(self.session.scalar(stmt) or 0)

    def created_since(self, campaign_id: uuid.UUID, since: datetime) -> int:
        stmt = select(func.count()).select_from(CallRow).where(
            CallRow.campaign_id == campaign_id, CallRow.created_at >= since)
        return int(self.session.scalar(stmt) or 0)

    def withdraw_queued(self, campaign_id: uuid.UUID, outcome: str) -> list[tuple[uuid.UUID, str]]:
        """Take back the calls no worker has claimed yet; the claim's guard then refuses them
        forever. Returns (call id, trunk) so their places in line can be freed."""
        result = self.session.execute(
            update(CallRow)
            .where(CallRow.campaign_id == campaign_id,
                   CallRow.status == CallStatus.QUEUED.value)
            .values(status=CallStatus.CANCELED.value, outcome=outcome, ended_at=func.now(),
                    updated_at=func.now())
            .returning(CallRow.id, CallRow.trunk))
        return [(row[0], row[1]) for row in result]

    def cancel_pending(self, campaign_id: uuid.UUID) -> int:
        result = self.session.execute(
            update(ContactRow)
            .where(ContactRow.campaign_id == campaign_id, ContactRow.state == "pending")
            .values(state="canceled", updated_at=func.now()))
        return int(result.rowcount)
