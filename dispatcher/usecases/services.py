"""Use cases: plain functions with their dependencies passed in.

``web/`` and ``workers/`` are thin shells around these; neither Flask nor Celery appears here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.engine import engine_of, raw_transaction
from dispatcher.adapters.db.repository import ApiKeyRepository, CallRepository, insert_new_calls
from dispatcher.adapters.db.tables import ApiKeyRow, CallRow
from dispatcher.adapters.redis.capacity import API, CAMPAIGN
from dispatcher.domain.call_requests import CallRequest
from dispatcher.domain.errors import Conflict, IdempotencyConflict, NotFound
from dispatcher.domain.new_calls import NewCall
from dispatcher.domain.status import CallStatus
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.callback_outbox import queue_callback

logger = logging.getLogger(__name__)
Sessions = sessionmaker[Session]
KEY_PREFIX = "dsp_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


SCOPES = ("calls:read", "calls:write")


def create_api_key(sessions: Sessions, name: str, *, scopes: tuple[str, ...] = SCOPES,
                   expires_in: timedelta | None = None, rate_limit: int | None = None,
                   max_active_calls: int | None = None) -> tuple[ApiKeyRow, str]:
    """Make a key; the plaintext is returned once and only its hash is stored."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(tz=UTC) + expires_in if expires_in else None
    row = ApiKeyRow(id=uuid.uuid4(), name=name, prefix=key[:12], key_hash=hash_api_key(key),
                    scopes=" ".join(scopes), expires_at=expires_at,
                    callback_secret=secrets.token_hex(32), rate_limit=rate_limit,
                    max_active_calls=max_active_calls)
    with sessions.begin() as session:
        ApiKeyRepository(session).add(row)
    return row, key


def authenticate(sessions: Sessions, key: str) -> ApiKeyRow | None:
    with sessions() as session:
        return ApiKeyRepository(session).by_hash(hash_api_key(key))


@dataclass(frozen=True)
class Submitted:
    call: CallRow | NewCall
    created: bool


@dataclass(frozen=True)
class SubmittedBatch:
    calls: list[CallRow | NewCall]
    created: bool


def submit_call(sessions: Sessions, request: CallRequest, api_key_id: uuid.UUID | None,
                idempotency_key: str | None) -> Submitted:
    """Record a call as ``queued``. The caller enqueues it only after this has committed, so a
    worker can never look for a row that isn't there yet."""
    keys = [idempotency_key] if idempotency_key else None
    batch = _submit(sessions, [request], api_key_id, keys)
    return Submitted(batch.calls[0], batch.created)


def submit_calls(sessions: Sessions, requests: Sequence[CallRequest],
                 api_key_id: uuid.UUID | None, idempotency_key: str | None) -> SubmittedBatch:
    """Record several calls as ``queued`` in one transaction: all of them or none.

    With an Idempotency-Key, call ``i`` is stored under ``<key>#<i>``: a replay of the same
    batch answers with the same calls, and any other batch under that key (another order,
    one call more or fewer) is a conflict.
    """
    if not idempotency_key:
        return _submit(sessions, requests, api_key_id, None)
    keys = [batch_item_key(idempotency_key, i) for i in range(len(requests))]
    return _submit(sessions, requests, api_key_id, keys,
                   beyond=batch_item_key(idempotency_key, len(requests)))


def batch_item_key(key: str, index: int) -> str:
    return f"{key}#{index}"


def _submit(sessions: Sessions, requests: Sequence[CallRequest], api_key_id: uuid.UUID | None,
            keys: list[str] | None, beyond: str | None = None) -> SubmittedBatch:
    now = datetime.now(tz=UTC)
    # A batch shares one acceptance time, so its calls tie on their place in line, and Redis
    # breaks ties by member: ids handed out in ascending order keep the order they were sent.
    ids = sorted(uuid.uuid4() for _ in requests)
    if keys is None:
        calls = [NewCall.from_request(i, r, api_key_id, None, None, now)
                 for i, r in zip(ids, requests, strict=True)]
        _insert(sessions, calls)
        return SubmittedBatch(list(calls), created=True)
    fingerprints = [r.fingerprint() for r in requests]
    existing = _replay(sessions, api_key_id, keys, fingerprints, beyond)
    if existing:
        return SubmittedBatch(existing, created=False)
    calls = [NewCall.from_request(i, r, api_key_id, k, f, now)
             for i, r, k, f in zip(ids, requests, keys, fingerprints, strict=True)]
    try:
        _insert(sessions, calls)
    except IntegrityError:
        # Two requests with one key raced: the loser answers like a replay.
        existing = _replay(sessions, api_key_id, keys, fingerprints, beyond)
        if existing is None:
            raise
        return SubmittedBatch(existing, created=False)
    return SubmittedBatch(list(calls), created=True)


def _insert(sessions: Sessions, calls: Sequence[NewCall]) -> None:
    with raw_transaction(engine_of(sessions)) as cursor:
        insert_new_calls(cursor, calls)


def _replay(sessions: Sessions, api_key_id: uuid.UUID | None, keys: list[str],
            fingerprints: list[str], beyond: str | None) -> list[CallRow | NewCall] | None:
    """The calls stored under ``keys`` if this exact request was seen before; None if not."""
    with sessions() as session:
        rows = CallRepository(session).by_idempotency_keys(
            api_key_id, keys + ([beyond] if beyond else []))
    if not rows:
        return None
    found = {row.idempotency_key: row for row in rows}
    if len(rows) != len(keys) or any(
            key not in found or found[key].request_hash != fingerprint
            for key, fingerprint in zip(keys, fingerprints, strict=True)):
        raise IdempotencyConflict("this Idempotency-Key was used with a different request",
                                  field="Idempotency-Key")
    return [found[key] for key in keys]


def active_calls(sessions: Sessions, api_key_id: uuid.UUID) -> int:
    with sessions() as session:
        return CallRepository(session).count_active(api_key_id)


def mark_published(sessions: Sessions, call_id: uuid.UUID) -> None:
    with sessions.begin() as session:
        CallRepository(session).mark_published([call_id])


def get_call(sessions: Sessions, call_id: uuid.UUID) -> CallRow:
    with sessions() as session:
        row = CallRepository(session).get(call_id)
    if row is None:
        raise NotFound("no such call")
    return row


@dataclass(frozen=True)
class CancelResult:
    call: CallRow
    needs_hangup: bool


def cancel_call(sessions: Sessions, call_id: uuid.UUID,
                by_key: uuid.UUID | None = None) -> CancelResult:
    """Cancel a queued call outright; flag a dialling one so its hangup is recorded as
    ``canceled``; refuse a finished one. The key that asked is kept for the audit trail."""
    with sessions.begin() as session:
        repo = CallRepository(session)
        if repo.cancel_if_queued(call_id, by_key):
            canceled = repo.get(call_id, for_update=True)
            assert canceled is not None
            session.refresh(canceled)
            queue_callback(session, canceled, "completed")
            return CancelResult(canceled, needs_hangup=False)
        row = repo.get(call_id, for_update=True)
        if row is None:
            raise NotFound("no such call")
        if CallStatus(row.status).is_final:
            raise Conflict(f"the call is already {row.status}")
        if row.cancel_requested_at is None:
            row.cancel_requested_at = datetime.now(tz=UTC)
            row.canceled_by_key_id = by_key
        return CancelResult(row, needs_hangup=True)


def requeue_stale(sessions: Sessions, admissions: Admissions, older_than: timedelta) -> int:
    """Put back in line the queued calls that fell out of it: Redis was down at submit time, a
    publish failed, a pool child died before its claim, or Redis lost its data. A call that is
    still waiting or holds a line is left alone; a duplicate would be harmless anyway, since
    the claim dedupes."""
    cutoff = datetime.now(tz=UTC) - older_than
    with sessions() as session:
        rows = CallRepository(session).stale_queued(cutoff)
    requeued = 0
    for row in rows:
        if not (admissions.enabled and admissions.is_tracked(row.id, row.trunk)):
            admissions.enqueue(row.id, row.trunk, priority=row.priority,
                               created=row.created_at,
                               source=CAMPAIGN if row.source == "campaign" else API)
            requeued += 1
    with sessions.begin() as session:
        CallRepository(session).mark_published([row.id for row in rows])
    if requeued:
        logger.warning("put %d queued call(s) back in line", requeued)
    return requeued


def rotate_callback_secret(sessions: Sessions, id_or_prefix: str) -> str | None:
    """A new signing secret for a key's callbacks; deliveries from now on use it."""
    secret = secrets.token_hex(32)
    with sessions.begin() as session:
        if not ApiKeyRepository(session).set_callback_secret(id_or_prefix, secret):
            return None
    return secret
