"""Campaigns, their contacts, uploads and do-not-call lists in PostgreSQL.

Bulk paths (uploads, the hopper's settle step, pause and cancel) are set-based SQL: a campaign
has up to millions of contacts, and nothing here may walk them one ORM object at a time.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.orm import Session

from dispatcher.adapters.db.engine import raw_cursor
from dispatcher.adapters.db.tables import (
    CallbackDeliveryRow,
    CallRow,
    CampaignHistoryRow,
    CampaignRow,
    ContactRow,
    DncListRow,
    DncNumberRow,
    UploadRejectRow,
    UploadRow,
)
from dispatcher.domain.contact_import import Contact, Reject
from dispatcher.domain.status import FINAL_STATUSES, CallStatus

_FINAL = [s.value for s in FINAL_STATUSES]


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

    def callbacks(self, campaign_id: uuid.UUID) -> list[CallbackDeliveryRow]:
        stmt = (select(CallbackDeliveryRow)
                .where(CallbackDeliveryRow.campaign_id == campaign_id)
                .order_by(CallbackDeliveryRow.sequence))
        return list(self.session.scalars(stmt))

    def history(self, campaign_id: uuid.UUID) -> list[CampaignHistoryRow]:
        stmt = (select(CampaignHistoryRow).where(CampaignHistoryRow.campaign_id == campaign_id)
                .order_by(CampaignHistoryRow.id))
        return list(self.session.scalars(stmt))

    # --- statistics -----------------------------------------------------------------------
    def contact_counts(self, campaign_id: uuid.UUID) -> dict[str, int]:
        rows = self.session.execute(
            select(ContactRow.state, func.count()).where(ContactRow.campaign_id == campaign_id)
            .group_by(ContactRow.state))
        return {state: int(n) for state, n in rows}

    def outcome_counts(self, campaign_id: uuid.UUID) -> dict[str, int]:
        rows = self.session.execute(
            select(ContactRow.outcome, func.count())
            .where(ContactRow.campaign_id == campaign_id,
                   ContactRow.state.in_(("done", "skipped")))
            .group_by(ContactRow.outcome))
        return {outcome or "unknown": int(n) for outcome, n in rows}

    def call_counts(self, campaign_id: uuid.UUID) -> dict[str, int]:
        """Calls by status, counting attempts only (not calls withdrawn before a dial)."""
        rows = self.session.execute(
            select(CallRow.status, func.count())
            .where(CallRow.campaign_id == campaign_id,
                   (CallRow.attempt_id.is_not(None)) | (CallRow.status == "queued"))
            .group_by(CallRow.status))
        return {status: int(n) for status, n in rows}

    def finished_since(self, campaign_id: uuid.UUID, since: datetime) -> int:
        stmt = select(func.count()).select_from(ContactRow).where(
            ContactRow.campaign_id == campaign_id, ContactRow.state.in_(("done", "skipped")),
            ContactRow.updated_at >= since)
        return int(self.session.scalar(stmt) or 0)

    # --- contacts -------------------------------------------------------------------------
    def contacts_page(self, campaign_id: uuid.UUID, *, state: str | None, outcome: str | None,
                      to: str | None, limit: int, after: int | None) -> list[ContactRow]:
        stmt = select(ContactRow).where(ContactRow.campaign_id == campaign_id)
        if state:
            stmt = stmt.where(ContactRow.state == state)
        if outcome:
            stmt = stmt.where(ContactRow.outcome == outcome)
        if to:
            stmt = stmt.where(ContactRow.to_number == to)
        if after is not None:
            stmt = stmt.where(ContactRow.id > after)
        return list(self.session.scalars(stmt.order_by(ContactRow.id).limit(limit)))

    def finished_calls(self, campaign_id: uuid.UUID) -> list[tuple[ContactRow, CallRow]]:
        """Contacts marked dialing whose call has reached a final status."""
        stmt = (select(ContactRow, CallRow)
                .join(CallRow, CallRow.id == ContactRow.last_call_id)
                .where(ContactRow.campaign_id == campaign_id, ContactRow.state == "dialing",
                       CallRow.status.in_(_FINAL)))
        return [(contact, call) for contact, call in self.session.execute(stmt)]

    def dialing(self, campaign_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(ContactRow).where(
            ContactRow.campaign_id == campaign_id, ContactRow.state == "dialing")
        return int(self.session.scalar(stmt) or 0)

    def remaining(self, campaign_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(ContactRow).where(
            ContactRow.campaign_id == campaign_id, ContactRow.state.in_(("pending", "dialing")))
        return int(self.session.scalar(stmt) or 0)

    def due(self, campaign_id: uuid.UUID, now: datetime, limit: int) -> list[ContactRow]:
        stmt = (select(ContactRow)
                .where(ContactRow.campaign_id == campaign_id, ContactRow.state == "pending",
                       ContactRow.next_attempt_at <= now)
                .order_by(ContactRow.next_attempt_at, ContactRow.id).limit(limit))
        return list(self.session.scalars(stmt))

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

    def dnc_numbers(self, list_names: Sequence[str], numbers: Sequence[str]) -> set[str]:
        """Which of ``numbers`` are on any of the named lists."""
        if not list_names or not numbers:
            return set()
        stmt = (select(DncNumberRow.number).join(DncListRow)
                .where(DncListRow.name.in_(list_names), DncNumberRow.number.in_(numbers)))
        return set(self.session.scalars(stmt))

    # --- uploads --------------------------------------------------------------------------
    def contact_loader(self, upload: UploadRow, due_at: datetime) -> ContactLoader:
        self.session.add(upload)
        self.session.flush()
        return ContactLoader(self.session, upload, due_at)

    def uploaded_since(self, campaign_id: uuid.UUID, since: datetime) -> bool:
        stmt = select(UploadRow.id).where(UploadRow.campaign_id == campaign_id,
                                          UploadRow.created_at > since).limit(1)
        return self.session.scalars(stmt).first() is not None

    def uploads(self, campaign_id: uuid.UUID) -> list[UploadRow]:
        stmt = (select(UploadRow).where(UploadRow.campaign_id == campaign_id)
                .order_by(UploadRow.created_at))
        return list(self.session.scalars(stmt))

    def upload_by_key(self, campaign_id: uuid.UUID, key: str) -> UploadRow | None:
        stmt = select(UploadRow).where(UploadRow.campaign_id == campaign_id,
                                       UploadRow.idempotency_key == key)
        return self.session.scalars(stmt).first()

    def upload(self, campaign_id: uuid.UUID, upload_id: uuid.UUID) -> UploadRow | None:
        stmt = select(UploadRow).where(UploadRow.id == upload_id,
                                       UploadRow.campaign_id == campaign_id)
        return self.session.scalars(stmt).first()

    def rejects(self, upload_id: uuid.UUID) -> list[UploadRejectRow]:
        stmt = (select(UploadRejectRow).where(UploadRejectRow.upload_id == upload_id)
                .order_by(UploadRejectRow.line))
        return list(self.session.scalars(stmt))

    def export_rows(self, campaign_id: uuid.UUID) -> Iterator[Sequence[Any]]:
        """Each contact with its attempts' outcomes, in file order, streamed from the server."""
        stmt = text("""
            SELECT c.line, c.to_number, c.state, c.outcome, c.attempts, c.last_call_id,
                   c.last_attempt_at,
                   (SELECT string_agg(coalesce(k.outcome, k.status), ';' ORDER BY k.claimed_at)
                      FROM calls k WHERE k.contact_id = c.id AND k.attempt_id IS NOT NULL)
              FROM campaign_contacts c WHERE c.campaign_id = :id ORDER BY c.line, c.id""")
        result = self.session.execute(stmt.execution_options(stream_results=True,
                                                             yield_per=5000),
                                      {"id": campaign_id})
        yield from result


class ContactLoader:
    """Loads an upload's rows batch by batch inside one transaction: COPY into a staging
    table, then insert the numbers the campaign does not have yet (the unique index drops the
    rest). COPY-class ingestion, never row by row. The COPY texts are prepared by the caller
    (:func:`copy_text`), so this thread only waits on PostgreSQL."""

    def __init__(self, session: Session, upload: UploadRow, due_at: datetime) -> None:
        self.session = session
        self.upload = upload
        self.due_at = due_at  # the new contacts' first next_attempt_at
        self.added = 0
        with raw_cursor(session) as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS contact_stage (line integer, to_number text, "
                "timezone text, variables jsonb, metadata jsonb) ON COMMIT DELETE ROWS")

    def add(self, contacts: io.StringIO | None, rejects: io.StringIO | None) -> None:
        with raw_cursor(self.session) as cursor:
            if contacts is not None:
                cursor.execute("TRUNCATE contact_stage")
                cursor.copy_expert("COPY contact_stage FROM STDIN WITH (FORMAT csv)", contacts)
                cursor.execute(
                    "INSERT INTO campaign_contacts (campaign_id, line, to_number, timezone, "
                    "variables, metadata, state, attempts, next_attempt_at, updated_at) "
                    "SELECT %s, line, to_number, timezone, variables, metadata, 'pending', 0, "
                    "%s, %s FROM contact_stage "
                    "ON CONFLICT (campaign_id, to_number) DO NOTHING",
                    (str(self.upload.campaign_id), self.due_at, self.due_at))
                self.added += cursor.rowcount
            if rejects is not None:
                cursor.copy_expert("COPY campaign_upload_rejects (upload_id, line, reason) "
                                   "FROM STDIN WITH (FORMAT csv)", rejects)


def contact_copy_text(contacts: Sequence[Contact]) -> io.StringIO | None:
    return _csv_buffer(_contact_rows(contacts)) if contacts else None


def reject_copy_text(upload_id: uuid.UUID, rejects: Sequence[Reject]) -> io.StringIO | None:
    if not rejects:
        return None
    return _csv_buffer([(str(upload_id), r.line, r.reason) for r in _unique(rejects)])


class DncRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_list(self, row: DncListRow) -> None:
        self.session.add(row)
        self.session.flush()

    def lists(self) -> list[tuple[DncListRow, int]]:
        stmt = (select(DncListRow, func.count(DncNumberRow.number))
                .outerjoin(DncNumberRow).group_by(DncListRow.id).order_by(DncListRow.name))
        return [(row, int(n)) for row, n in self.session.execute(stmt)]

    def by_name(self, name: str) -> DncListRow | None:
        return self.session.scalars(select(DncListRow).where(DncListRow.name == name)).first()

    def existing(self, names: Sequence[str]) -> set[str]:
        if not names:
            return set()
        return set(self.session.scalars(select(DncListRow.name)
                                        .where(DncListRow.name.in_(names))))

    def add_numbers(self, list_id: uuid.UUID, numbers: Sequence[str]) -> int:
        if not numbers:
            return 0
        result = self.session.execute(
            text("INSERT INTO dnc_numbers (list_id, number) SELECT :l, unnest(:n) "
                 "ON CONFLICT DO NOTHING"), {"l": list_id, "n": list(numbers)})
        return int(result.rowcount)  # type: ignore[attr-defined]

    def remove_number(self, list_id: uuid.UUID, number: str) -> bool:
        result = self.session.execute(
            text("DELETE FROM dnc_numbers WHERE list_id = :l AND number = :n"),
            {"l": list_id, "n": number})
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def numbers(self, list_id: uuid.UUID, limit: int, after: str | None) -> list[str]:
        stmt = select(DncNumberRow.number).where(DncNumberRow.list_id == list_id)
        if after:
            stmt = stmt.where(DncNumberRow.number > after)
        return list(self.session.scalars(stmt.order_by(DncNumberRow.number).limit(limit)))

    def contains(self, list_id: uuid.UUID, number: str) -> bool:
        stmt = select(DncNumberRow.number).where(DncNumberRow.list_id == list_id,
                                                 DncNumberRow.number == number)
        return self.session.scalars(stmt).first() is not None


def _contact_rows(contacts: Sequence[Contact]) -> Iterator[tuple[object, ...]]:
    for c in contacts:
        yield (c.line, c.to, c.timezone, json.dumps(c.variables),
               None if c.metadata is None else json.dumps(c.metadata))


def _unique(rejects: Sequence[Reject]) -> list[Reject]:
    """One reason per line (a line is only ever rejected once; this guards the key)."""
    seen: dict[int, Reject] = {}
    for reject in rejects:
        seen.setdefault(reject.line, reject)
    return list(seen.values())


def _csv_buffer(rows: Any) -> io.StringIO:
    """Rows in COPY's CSV format: an unquoted empty field is NULL."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    buffer.seek(0)
    return buffer
