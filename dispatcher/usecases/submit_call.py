"""Submitting calls: one or a batch, as one operation. The limits first (the per-number cap
and the key's calls in progress), then the calls are stored, idempotent under a key, and only
then put in their trunks' lines (a failed enqueue leaves them queued for the sweeper)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from dispatcher.adapters.db.calls import CallRepository, insert_new_calls
from dispatcher.adapters.db.engine import Sessions, engine_of, raw_transaction
from dispatcher.adapters.db.tables import CallRow
from dispatcher.domain.call_requests import CallRequest
from dispatcher.domain.errors import IdempotencyConflict, TooManyRequests
from dispatcher.domain.new_calls import NewCall
from dispatcher.usecases.admission import Admissions, Waiting
from dispatcher.usecases.dial_guard import NumberCap

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submitter:
    """What submitting needs: the database, the trunks' lines and the per-number cap."""

    sessions: Sessions
    admissions: Admissions
    number_cap: NumberCap

    def place(self, requests: Sequence[CallRequest], *, api_key_id: uuid.UUID | None,
              max_active_calls: int | None, idempotency_key: str | None,
              batch: bool) -> SubmittedBatch:
        """Check the limits, store the calls and queue them: the whole of ``POST /v1/calls``
        between parsing the body and answering. A replay (same key, same request) returns
        what was stored the first time and queues nothing again."""
        check_limits(self.sessions, self.number_cap, requests, api_key_id=api_key_id,
                     max_active_calls=max_active_calls, batch=batch)
        if batch:
            placed = submit_calls(self.sessions, requests, api_key_id, idempotency_key)
        else:
            one = submit_call(self.sessions, requests[0], api_key_id, idempotency_key)
            placed = SubmittedBatch([one.call], one.created)
        if placed.created:
            enqueue(self.admissions, placed.calls)
        return placed


def check_limits(sessions: Sessions, cap: NumberCap, requests: Sequence[CallRequest], *,
                 api_key_id: uuid.UUID | None, max_active_calls: int | None,
                 batch: bool) -> None:
    """The number cap and the key's limit on calls in progress, for the calls as a whole."""
    if cap.enabled:
        numbers = [r.to for r in requests]
        with sessions() as session:
            capped = cap.next_allowed(session, numbers, datetime.now(tz=UTC))
        for index, number in enumerate(numbers):
            free_at = capped.get(number)
            if free_at is not None:
                raise TooManyRequests(
                    f"this number was called {cap.limit} time(s) within the last "
                    f"{int(cap.window.total_seconds())} s; it may be called again "
                    f"after {free_at.isoformat()}", field=f"[{index}].to" if batch else "to")
    if max_active_calls and api_key_id is not None and \
            active_calls(sessions, api_key_id) + len(requests) > max_active_calls:
        if batch:
            raise TooManyRequests(f"this API key may have {max_active_calls} calls in progress, "
                                  f"and {len(requests)} more would go over it")
        raise TooManyRequests(f"this API key already has {max_active_calls} calls in "
                              "progress; retry when one ends")


def enqueue(admissions: Admissions, calls: Sequence[CallRow | NewCall]) -> None:
    try:
        admissions.enqueue_many(Waiting(c.id, c.trunk, c.priority, c.created_at)
                                for c in calls)
    except Exception:
        # The calls are safely recorded as queued; the sweeper puts them in line when Redis
        # is back.
        logger.exception("enqueue of %d call(s) failed; left for the sweeper", len(calls))


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
    """One INSERT for the whole batch (:func:`insert_new_calls`): all of the calls or none."""
    with raw_transaction(engine_of(sessions), one_statement=True) as cursor:
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
