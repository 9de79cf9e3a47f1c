"""The contact upload use case: read, validate and store up to hundreds of thousands of rows.

The work is pipelined: this thread reads and validates batch after batch while a writer thread
loads the previous batch into PostgreSQL (which works in its own process, on another core),
all in one transaction, so a chunk is stored whole or not at all. Memory stays at a couple of
batches whatever the file size.
"""

from __future__ import annotations

import io
import logging
import queue
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice

from sqlalchemy.exc import IntegrityError

from dispatcher.adapters.db.campaigns import CampaignRepository
from dispatcher.adapters.db.contacts import (
    ContactRepository,
    contact_copy_text,
    reject_copy_text,
)
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import UploadRow
from dispatcher.domain.campaign_rules import CampaignStatus
from dispatcher.domain.clock import Clock, utcnow
from dispatcher.domain.contact_import import CSV, Contact, RawRow, csv_rows, ndjson_rows, validate
from dispatcher.domain.errors import Conflict, NotFound
from dispatcher.domain.numbers import NumberPolicy

logger = logging.getLogger(__name__)
BATCH_ROWS = 10_000


@dataclass(frozen=True)
class UploadResult:
    upload: UploadRow

    def as_json(self) -> dict[str, object]:
        u = self.upload
        return {"upload_id": str(u.id), "received": u.received, "accepted": u.accepted,
                "duplicates": u.duplicates, "rejected": u.rejected,
                "seconds": round(u.seconds, 3),
                "rejects_url": f"/v1/campaigns/{u.campaign_id}/uploads/{u.id}/rejects"}


@dataclass
class _Batch:
    received: int
    valid: int = 0
    rejected: int = 0
    contacts: io.StringIO | None = None  # COPY text
    rejects: io.StringIO | None = None


class _Aborted(Exception):
    """The reader failed: roll the upload back."""


_ABORT = _Batch(-1)


def upload_contacts(sessions: Sessions, campaign_id: uuid.UUID, lines: Iterable[str],
                    fmt: str, policy: NumberPolicy, *, line_offset: int = 0,
                    api_key_id: uuid.UUID | None = None,
                    idempotency_key: str | None = None,
                    clock: Clock = utcnow) -> UploadResult:
    """Validate every row, keep the good ones, report the rest by line. With an idempotency
    key, a chunk sent again is answered from the first time's record. The upload's time and
    its contacts' first due time are the clock's."""
    started = time.perf_counter()
    with sessions() as session:
        repo = CampaignRepository(session)
        campaign = repo.get(campaign_id)
        if campaign is None:
            raise NotFound("no such campaign")
        uploads = ContactRepository(session)
        if idempotency_key and (done := uploads.upload_by_key(campaign_id, idempotency_key)):
            return UploadResult(done)
        if CampaignStatus(campaign.status).is_final:
            raise Conflict(f"the campaign is {campaign.status}; contacts can no longer be added")
    upload = UploadRow(id=uuid.uuid4(), campaign_id=campaign_id, api_key_id=api_key_id,
                       format=fmt, received=0, accepted=0, duplicates=0, rejected=0,
                       seconds=0.0, idempotency_key=idempotency_key, created_at=clock())
    rows = csv_rows(lines, line_offset) if fmt == CSV else ndjson_rows(lines, line_offset)
    try:
        _pipeline(sessions, upload, rows, policy, json_fields=fmt != CSV, started=started)
    except IntegrityError:
        if not idempotency_key:
            raise
        with sessions() as session:  # the same chunk, sent twice at once: the first won
            first = ContactRepository(session).upload_by_key(campaign_id, idempotency_key)
        if first is None:
            raise
        return UploadResult(first)
    logger.info("campaign %s: upload of %d row(s): %d added, %d duplicate, %d rejected in "
                "%.2fs", campaign_id, upload.received, upload.accepted, upload.duplicates,
                upload.rejected, upload.seconds)
    return UploadResult(upload)


def _pipeline(sessions: Sessions, upload: UploadRow, rows: Iterator[RawRow],
              policy: NumberPolicy, *, json_fields: bool, started: float) -> None:
    batches: queue.Queue[_Batch | None] = queue.Queue(maxsize=2)
    seen: set[str] = set()  # a number twice in the file: the first row wins
    with ThreadPoolExecutor(1, thread_name_prefix="contact-writer") as pool:
        writer = pool.submit(_write, sessions, upload, batches, started)
        try:
            while raw := list(islice(rows, BATCH_ROWS)):
                contacts, rejects = validate(raw, policy, json_fields)
                fresh = _first_time(contacts, seen)
                batch = _Batch(len(raw), len(contacts), len(rejects),
                               contact_copy_text(fresh), reject_copy_text(upload.id, rejects))
                _hand_over(batches, batch, writer)
        except BaseException:
            _hand_over(batches, _ABORT, writer, quiet=True)
            raise
        _hand_over(batches, None, writer)
        writer.result()


def _first_time(contacts: list[Contact], seen: set[str]) -> list[Contact]:
    fresh = []
    for contact in contacts:
        if contact.to not in seen:
            seen.add(contact.to)
            fresh.append(contact)
    return fresh


def _hand_over(batches: queue.Queue[_Batch | None], item: _Batch | None,
               writer: Future[None], quiet: bool = False) -> None:
    """Queue a batch, unless the writer has already failed: then raise its error."""
    while True:
        try:
            batches.put(item, timeout=0.2)
            return
        except queue.Full:
            if writer.done():
                if quiet:
                    return
                writer.result()
                raise RuntimeError("the contact writer stopped early") from None


def _write(sessions: Sessions, upload: UploadRow, batches: queue.Queue[_Batch | None],
           started: float) -> None:
    with sessions.begin() as session:
        repo = CampaignRepository(session)
        loader = ContactRepository(session).contact_loader(upload, due_at=upload.created_at)
        valid = 0
        while (batch := batches.get()) is not None:
            if batch is _ABORT:
                raise _Aborted
            loader.add(batch.contacts, batch.rejects)
            upload.received += batch.received
            upload.rejected += batch.rejected
            valid += batch.valid
        # The campaign is locked only now, for the commit: a share lock held through a long
        # load would hold up the hopper and the dials of a running campaign. A cancel that
        # committed meanwhile refuses the upload; one after this waits for the commit and then
        # cancels the new contacts too.
        campaign = repo.get(upload.campaign_id, lock="share")
        if campaign is None or CampaignStatus(campaign.status).is_final:
            raise Conflict("the campaign ended while the upload was read")
        upload.accepted = loader.added
        upload.duplicates = valid - loader.added
        upload.seconds = time.perf_counter() - started
        repo.note(upload.campaign_id, "upload", upload.api_key_id, upload.created_at,
                  {"upload_id": str(upload.id), "accepted": upload.accepted,
                   "rejected": upload.rejected})

