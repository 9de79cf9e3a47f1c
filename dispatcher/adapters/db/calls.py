"""Calls in PostgreSQL: stored, claimed, moved through their states, paged and swept.

Concurrency rule: every write that races another process is a guarded UPDATE (the claim) or
runs under ``SELECT ... FOR UPDATE`` of the call row (event application), so two consumers, or a
consumer and the reconciler, can never interleave on one call.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from psycopg2.extras import execute_values
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from dispatcher.adapters.db.engine import raw_cursor
from dispatcher.adapters.db.event_log import array_literal, uuid_text
from dispatcher.adapters.db.tables import CallRow
from dispatcher.domain.call_state import CallState
from dispatcher.domain.new_calls import NewCall
from dispatcher.domain.status import ACTIVE_STATUSES, CallStatus

_STATE_FIELDS = ("outcome", "channel", "hangup_cause", "hangup_cause_text", "sip_code",
                 "dialed_at", "ringing_at", "answered_at", "ended_at")


def state_of(row: CallRow) -> CallState:
    return CallState(
        status=CallStatus(row.status),
        cancel_requested=row.cancel_requested_at is not None,
        **{name: getattr(row, name) for name in _STATE_FIELDS},
    )


def store_state(row: CallRow, state: CallState) -> None:
    row.status = state.status.value
    for name in _STATE_FIELDS:
        setattr(row, name, getattr(state, name))
    row.updated_at = datetime.now(tz=UTC)


@dataclass(frozen=True)
class CallFilter:
    status: str | None = None
    to_number: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    campaign_id: uuid.UUID | None = None


class CallRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- API side -------------------------------------------------------------------------
    def add_many(self, rows: Sequence[CallRow]) -> None:
        """Insert new calls (the hopper's campaign calls) with one plain multi-row INSERT per
        set of columns given, skipping the unit of work (the rows stay transient; unset
        columns get their defaults). One statement, not one per call: each also fires the
        campaign call tallies' trigger (migration 0013). The API's calls go through
        :func:`insert_new_calls` instead."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            values = {column: value for attr, column in _CALL_COLUMNS
                      if (value := getattr(row, attr)) is not None}
            groups.setdefault(tuple(values), []).append(values)
        # Values as parameters of one prebuilt statement: compiled once per set of columns
        # and cached, instead of coercing every value into a new statement per call.
        for group in groups.values():
            self.session.execute(_INSERT_CALL, group)

    def get(self, call_id: uuid.UUID, *, for_update: bool = False) -> CallRow | None:
        stmt = select(CallRow).where(CallRow.id == call_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).first()

    def by_ids(self, call_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CallRow]:
        if not call_ids:
            return {}
        return {row.id: row for row in self.session.scalars(
            select(CallRow).where(CallRow.id.in_(call_ids)))}

    def count_active(self, api_key_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(CallRow).where(
            CallRow.api_key_id == api_key_id, CallRow.source == "api",
            CallRow.status.in_([s.value for s in ACTIVE_STATUSES]))
        return int(self.session.scalar(stmt) or 0)

    def by_idempotency_keys(self, api_key_id: uuid.UUID | None,
                            keys: Sequence[str]) -> list[CallRow]:
        return list(self.session.scalars(select(CallRow).where(
            CallRow.api_key_id == api_key_id, CallRow.idempotency_key.in_(keys))))

    def page(self, flt: CallFilter, limit: int,
             after: tuple[datetime, uuid.UUID] | None) -> list[CallRow]:
        """Newest first, keyset-paginated on (created_at, id): stable while rows are added."""
        stmt = select(CallRow)
        if flt.status:
            stmt = stmt.where(CallRow.status == flt.status)
        if flt.to_number:
            stmt = stmt.where(CallRow.to_number == flt.to_number)
        if flt.created_after:
            stmt = stmt.where(CallRow.created_at > flt.created_after)
        if flt.created_before:
            stmt = stmt.where(CallRow.created_at < flt.created_before)
        if flt.campaign_id:
            stmt = stmt.where(CallRow.campaign_id == flt.campaign_id)
        if after:
            created, last_id = after
            stmt = stmt.where(or_(CallRow.created_at < created,
                                  and_(CallRow.created_at == created, CallRow.id < last_id)))
        stmt = stmt.order_by(CallRow.created_at.desc(), CallRow.id.desc()).limit(limit)
        return list(self.session.scalars(stmt))


    def mark_published(self, call_ids: Sequence[uuid.UUID]) -> None:
        """Note that these calls were handed to admission (the sweeper looks again later).

        Only calls still queued: the mark matters to nothing else, and a claimed call's row
        belongs to the event consumer, which locks the rows of a batch in attempt order; an
        UPDATE of many claimed rows in another order could deadlock with it."""
        if call_ids:
            self.session.execute(update(CallRow).where(
                CallRow.id.in_(call_ids), CallRow.status == CallStatus.QUEUED.value)
                .values(published_at=func.now()))

    def cancel_if_queued(self, call_id: uuid.UUID, by_key: uuid.UUID | None = None) -> bool:
        """Cancel a call no worker has claimed; the claim's guard then refuses it forever."""
        result = self.session.execute(
            update(CallRow)
            .where(CallRow.id == call_id, CallRow.status == CallStatus.QUEUED.value)
            .values(status=CallStatus.CANCELED.value, outcome="canceled",
                    cancel_requested_at=func.now(), ended_at=func.now(), updated_at=func.now(),
                    canceled_by_key_id=by_key)
        )
        return result.rowcount == 1

    # --- worker side ----------------------------------------------------------------------
    def by_attempt(self, attempt_id: uuid.UUID, *, for_update: bool = False) -> CallRow | None:
        stmt = select(CallRow).where(CallRow.attempt_id == attempt_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).first()

    def lock_states(self, attempt_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, LockedCall]:
        """Lock the calls of these attempts, in the given order (callers sort it), reading only
        what events can change: the consumer's hot path, so a raw cursor and no ORM objects."""
        locked = {}
        with raw_cursor(self.session) as cursor:
            cursor.execute(_LOCK_STATES, (array_literal([uuid_text(a) for a in attempt_ids]),))
            for (call_id, attempt_id, trunk, campaign_id, callback, status, cancel_requested_at,
                 *fields) in cursor:
                state = CallState(CallStatus(status),
                                  **dict(zip(_STATE_FIELDS, fields, strict=True)),
                                  cancel_requested=cancel_requested_at is not None)
                locked[attempt_id] = LockedCall(call_id, trunk, campaign_id,
                                                callback is not None, state)
        return locked

    def store_states(self, states: Mapping[uuid.UUID, CallState]) -> None:
        """Write new states of locked calls with one UPDATE per thousand calls."""
        if not states:
            return
        now = datetime.now(tz=UTC)
        rows = [(str(call_id), state.status.value, *(getattr(state, name) for name in
                                                     _STATE_FIELDS), now)
                for call_id, state in states.items()]
        with raw_cursor(self.session) as cursor:
            execute_values(cursor, _UPDATE_STATES, rows, template=_STATE_TEMPLATE,
                           page_size=1000)

    def stale_queued(self, older_than: datetime, limit: int = 2000) -> list[CallRow]:
        stmt = (select(CallRow)
                .where(CallRow.status == CallStatus.QUEUED.value,
                       or_(CallRow.published_at.is_(None), CallRow.published_at < older_than))
                .order_by(CallRow.created_at).limit(limit))
        return list(self.session.scalars(stmt))

    def unsettled_attempts(self, claimed_before: datetime,
                           idle_since: datetime) -> list[CallRow]:
        """Dialled or claimed calls that have gone quiet without reaching a final state."""
        stmt = (select(CallRow)
                .where(CallRow.status.in_([s.value for s in ACTIVE_STATUSES]),
                       CallRow.attempt_id.is_not(None),
                       CallRow.claimed_at < claimed_before,
                       CallRow.updated_at < idle_since)
                .order_by(CallRow.claimed_at).with_for_update(skip_locked=True))
        return list(self.session.scalars(stmt))


_UPDATE_STATES = (
    "UPDATE calls SET status = v.status, " + ", ".join(f"{name} = v.{name}" for name in
                                                       _STATE_FIELDS)
    + ", updated_at = v.updated_at FROM (VALUES %s) AS v(id, status, "
    + ", ".join(_STATE_FIELDS) + ", updated_at) WHERE calls.id = v.id")
_STATE_TEMPLATE = ("(%s::uuid, %s, %s, %s, %s::int, %s, %s::int, %s::timestamptz, "
                   "%s::timestamptz, %s::timestamptz, %s::timestamptz, %s::timestamptz)")


class LockedCall(NamedTuple):
    """A call as the event consumer sees it: where it runs, and its state."""

    id: uuid.UUID
    trunk: str
    campaign_id: uuid.UUID | None
    has_callback: bool
    state: CallState


_LOCK_STATES = (
    "SELECT id, attempt_id, trunk, campaign_id, status_callback, status, cancel_requested_at, "
    + ", ".join(_STATE_FIELDS)
    + " FROM calls WHERE attempt_id = ANY(%s::uuid[]) ORDER BY attempt_id FOR UPDATE")


def insert_new_calls(cursor: Any, calls: Sequence[NewCall]) -> None:
    """Store calls the API accepted, on a raw cursor (see :mod:`dispatcher.domain.new_calls`).

    ``published_at`` is the acceptance time: the calls are handed to admission right after the
    commit, and if that fails the sweeper finds them once this is older than its retry delay.
    Always one statement, whatever the number of calls (one page of them): the caller relies
    on it to send it without a transaction around it.
    """
    execute_values(cursor, _INSERT_NEW_CALLS, [(
        str(c.id), str(c.api_key_id) if c.api_key_id else None, c.idempotency_key,
        c.request_hash, c.to_number, c.dial_string, c.caller_id, c.ring_timeout, c.trunk,
        c.priority, c.source, json.dumps(c.variables),
        None if c.call_metadata is None else json.dumps(c.call_metadata), c.status,
        c.created_at, c.created_at, c.created_at, c.status_callback, c.callback_events)
        for c in calls], template=_NEW_CALL_VALUES, page_size=max(1, len(calls)))


_INSERT_NEW_CALLS = (
    "INSERT INTO calls (id, api_key_id, idempotency_key, request_hash, to_number, dial_string,"
    " caller_id, ring_timeout, trunk, priority, source, variables, metadata, status,"
    " created_at, updated_at, published_at, status_callback, callback_events, callback_seq)"
    " VALUES %s")
_NEW_CALL_VALUES = "(" + ", ".join(["%s"] * 19) + ", 0)"
_CALL_COLUMNS = [(attr.key, attr.columns[0].name) for attr in CallRow.__mapper__.column_attrs]
_INSERT_CALL = insert(CallRow.__table__)


def rows_by_id(rows: Iterable[CallRow]) -> dict[uuid.UUID, CallRow]:
    return {row.id: row for row in rows}
