"""A campaign's contacts and the uploads that brought them: loaded with COPY, picked by the
hopper when due, settled when their calls end, exported with every attempt.

Bulk paths are set-based SQL: a campaign has up to millions of contacts, and nothing here may
walk them one ORM object at a time.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from psycopg2.extras import execute_values
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from dispatcher.adapters.db.engine import raw_cursor
from dispatcher.adapters.db.tables import CallRow, ContactRow, UploadRejectRow, UploadRow
from dispatcher.domain.contact_import import Contact, Reject
from dispatcher.domain.status import FINAL_STATUSES

_FINAL = [s.value for s in FINAL_STATUSES]


class DueContact(NamedTuple):
    """A pending contact the hopper may dial: what it reads, as a plain row (its changes go
    back in one statement, :meth:`ContactRepository.apply`, not through ORM objects)."""

    id: int
    to_number: str
    timezone: str | None
    variables: dict[str, Any] | None
    metadata: Any


class FinishedContact(NamedTuple):
    """A contact marked dialing whose call reached a final status, and how the call ended."""

    id: int
    attempts: int
    status: str
    outcome: str | None
    claimed: bool  # the call got an attempt: a worker claimed it for dialling
    ended_at: datetime | None


class ContactChange(NamedTuple):
    """What the hopper changes on one contact. None keeps the column as it is."""

    id: int
    state: str | None = None
    outcome: str | None = None
    attempts_added: int = 0
    next_attempt_at: datetime | None = None
    last_call_id: uuid.UUID | None = None
    last_attempt_at: datetime | None = None
    updated_at: datetime | None = None


class ContactRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

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

    def finished_calls(self, campaign_id: uuid.UUID) -> list[FinishedContact]:
        """Contacts marked dialing whose call has reached a final status."""
        stmt = (select(ContactRow.id, ContactRow.attempts, CallRow.status, CallRow.outcome,
                       CallRow.attempt_id.is_not(None), CallRow.ended_at)
                .join(CallRow, CallRow.id == ContactRow.last_call_id)
                .where(ContactRow.campaign_id == campaign_id, ContactRow.state == "dialing",
                       CallRow.status.in_(_FINAL)))
        return [FinishedContact(*row) for row in self.session.execute(stmt)]

    def apply(self, changes: Sequence[ContactChange]) -> int:
        """Write the hopper's changes to many contacts with one ``UPDATE ... FROM (VALUES)``
        per thousand, not one UPDATE per contact: a tick takes and settles a trunk's worth of
        contacts, and each statement also fires the tally triggers (migration 0012) once.
        The caller holds the campaign's row lock, so nothing else moves these contacts
        meanwhile; returns how many rows were written."""
        if not changes:
            return 0
        with raw_cursor(self.session) as cursor:
            execute_values(cursor, _APPLY_CHANGES, [
                (c.id, c.state, c.outcome, c.attempts_added, c.next_attempt_at,
                 None if c.last_call_id is None else str(c.last_call_id), c.last_attempt_at,
                 c.updated_at) for c in changes], template=_CHANGE_TEMPLATE, page_size=1000)
            return int(cursor.rowcount)

    def dialing(self, campaign_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(ContactRow).where(
            ContactRow.campaign_id == campaign_id, ContactRow.state == "dialing")
        return int(self.session.scalar(stmt) or 0)

    def any_left(self, campaign_id: uuid.UUID) -> bool:
        """Whether any contact is still pending or dialling: one index probe, where counting
        them walked a million rows on every hopper tick of a large campaign."""
        stmt = select(ContactRow.id).where(
            ContactRow.campaign_id == campaign_id,
            ContactRow.state.in_(("pending", "dialing"))).limit(1)
        return self.session.scalars(stmt).first() is not None

    def due(self, campaign_id: uuid.UUID, now: datetime, limit: int) -> list[DueContact]:
        stmt = (select(ContactRow.id, ContactRow.to_number, ContactRow.timezone,
                       ContactRow.variables, ContactRow.contact_metadata)
                .where(ContactRow.campaign_id == campaign_id, ContactRow.state == "pending",
                       ContactRow.next_attempt_at <= now)
                .order_by(ContactRow.next_attempt_at, ContactRow.id).limit(limit))
        return [DueContact(*row) for row in self.session.execute(stmt)]

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
            SELECT c.upload_id, c.line, c.to_number, c.state, c.outcome, c.attempts,
                   c.last_call_id,
                   c.last_attempt_at,
                   (SELECT string_agg(coalesce(k.outcome, k.status), ';' ORDER BY k.claimed_at)
                      FROM calls k WHERE k.contact_id = c.id AND k.attempt_id IS NOT NULL)
              FROM campaign_contacts c WHERE c.campaign_id = :id ORDER BY c.id""")
        result = self.session.execute(stmt.execution_options(stream_results=True,
                                                             yield_per=5000),
                                      {"id": campaign_id})
        yield from result


_APPLY_CHANGES = (
    "UPDATE campaign_contacts AS c SET state = coalesce(v.state, c.state), "
    "outcome = coalesce(v.outcome, c.outcome), attempts = c.attempts + v.attempts_added, "
    "next_attempt_at = coalesce(v.next_attempt_at, c.next_attempt_at), "
    "last_call_id = coalesce(v.last_call_id, c.last_call_id), "
    "last_attempt_at = coalesce(v.last_attempt_at, c.last_attempt_at), "
    "updated_at = coalesce(v.updated_at, c.updated_at) "
    "FROM (VALUES %s) AS v(id, state, outcome, attempts_added, next_attempt_at, last_call_id,"
    " last_attempt_at, updated_at) WHERE c.id = v.id")
_CHANGE_TEMPLATE = ("(%s::bigint, %s::varchar, %s::varchar, %s::int, %s::timestamptz, "
                    "%s::uuid, %s::timestamptz, %s::timestamptz)")


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
                    "INSERT INTO campaign_contacts (campaign_id, upload_id, line, to_number, "
                    "timezone, variables, metadata, state, attempts, next_attempt_at, "
                    "updated_at) "
                    "SELECT %s, %s, line, to_number, timezone, variables, metadata, 'pending', "
                    "0, %s, %s FROM contact_stage "
                    "ON CONFLICT (campaign_id, to_number) DO NOTHING",
                    (str(self.upload.campaign_id), str(self.upload.id), self.due_at,
                     self.due_at))
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
