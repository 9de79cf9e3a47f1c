"""Event recording and reconciliation: how AMI facts become rows in PostgreSQL.

Every event is applied under ``SELECT ... FOR UPDATE`` of its call and stored once (a content
key makes a repeat a no-op), and the state machine only moves forward, so replays, duplicates
and a second consumer running in parallel all leave the same rows behind.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session

from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.adapters.ami.translate import pbx_local_time, translate
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.event_log import EventLog
from dispatcher.adapters.db.repository import CallRepository, state_of, store_state
from dispatcher.adapters.db.tables import CallRow
from dispatcher.domain import events as ev
from dispatcher.domain.call_state import CallState, apply_event, mark_unresolved
from dispatcher.domain.status import CallStatus
from dispatcher.usecases.callback_outbox import queue_change

logger = logging.getLogger(__name__)


class EndedCall(NamedTuple):
    """A call that reached a final state: its line can go, and its campaign can move on."""

    call_id: uuid.UUID
    trunk: str
    campaign_id: uuid.UUID | None = None


Ended = list[EndedCall]


class Change(NamedTuple):
    """A domain event for one attempt: what may move its call's state."""

    attempt_id: uuid.UUID
    event: ev.CallEvent


@dataclass
class Batch:
    """AMI events made ready for one transaction: their log rows built, and the state changes
    they may bring. The messages themselves are not kept, so a backlog held while the database
    is away costs about 0.7 KB an event instead of 3."""

    changes: list[Change] = field(default_factory=list)
    log: EventLog = field(default_factory=EventLog)

    def __len__(self) -> int:
        return len(self.log)

    def extend(self, other: Batch) -> None:
        self.changes.extend(other.changes)
        self.log.extend(other.log)


def prepare(messages: Iterable[AMIMessage], received_at: datetime | None = None) -> Batch:
    """Everything about a batch that needs no database: done while the last batch is written."""
    batch = Batch()
    for message in messages:
        item = translate(message, received_at)
        if item is not None:
            if item.event is not None:
                batch.changes.append(Change(item.attempt_id, item.event))
            batch.log.add(item.attempt_id, item.name, item.at, message.items)
    return batch


def record_events(sessions: Sessions, messages: Iterable[AMIMessage],
                  received_at: datetime | None = None) -> Ended:
    """Apply a batch of AMI events in one transaction; return the calls that ended in it."""
    return record_batch(sessions, prepare(messages, received_at))


def record_batch(sessions: Sessions, batch: Batch) -> Ended:
    """Store a prepared batch and apply it to the calls' states, in one transaction.

    The calls whose state the batch may change are locked up front in attempt-id order, so two
    consumers working through overlapping batches can never deadlock each other. A call's state
    is written once per batch however many of its events the batch holds. Events that only go
    to the log need no lock: storing one is idempotent.
    """
    if not batch:
        return []
    ended: Ended = []
    with sessions.begin() as session:
        repo = CallRepository(session)
        attempts = sorted({change.attempt_id for change in batch.changes})
        calls = repo.lock_states(attempts) if attempts else {}
        repo.record_events(batch.log)
        states: dict[uuid.UUID, CallState] = {}
        notify: list[tuple[uuid.UUID, CallStatus, CallState]] = []
        for change in batch.changes:
            call = calls.get(change.attempt_id)
            if call is None:  # not ours
                continue
            old = states.get(call.id, call.state)
            new = apply_event(old, change.event)
            if new == old:
                continue
            states[call.id] = new
            if call.has_callback:
                notify.append((call.id, old.status, new))
            if new.status.is_final and not old.status.is_final:
                ended.append(EndedCall(call.id, call.trunk, call.campaign_id))
        callers = {call_id for call_id, _, _ in notify}
        repo.store_states({call_id: state for call_id, state in states.items()
                           if call_id not in callers})
        _queue_callbacks(repo, notify)
    return ended


def _queue_callbacks(repo: CallRepository,
                     changes: Iterable[tuple[uuid.UUID, CallStatus, CallState]]) -> None:
    """Calls with a status callback go through their ORM row, one change at a time, so each
    callback carries the call as it was at that change."""
    rows: dict[uuid.UUID, CallRow | None] = {}
    for call_id, old_status, new in changes:
        if call_id not in rows:
            rows[call_id] = repo.get(call_id)
        row = rows[call_id]
        if row is None:  # cannot happen: the row is locked in this transaction
            continue
        store_state(row, new)
        queue_change(repo.session, row, old_status)


@dataclass(frozen=True)
class CdrEvidence:
    disposition: str
    answered_at: datetime | None
    ended_at: datetime
    hangup_cause: int | None = None


CdrLookup = Callable[[Session, uuid.UUID], CdrEvidence | None]


def cdr_from_pgsql(session: Session, attempt_id: uuid.UUID) -> CdrEvidence | None:
    """Read the CDR Asterisk wrote itself with ``cdr_pgsql`` (table ``cdr``), if present.

    It is the one record of a call's end that does not depend on our AMI session being up.
    The optional ``answer`` and ``end`` columns give exact times; without them they are
    derived from ``calldate``, ``duration`` and ``billsec`` (whole seconds).
    """
    if session.execute(text("SELECT to_regclass('cdr')")).scalar() is None:
        return None
    found = session.execute(
        text("SELECT * FROM cdr WHERE uniqueid = :u ORDER BY calldate DESC LIMIT 1"),
        {"u": str(attempt_id)},
    ).mappings().first()
    if found is None:
        return None
    start = _aware(found["calldate"])
    ended = _aware(found.get("end")) or start + timedelta(seconds=int(found["duration"] or 0))
    answered = _aware(found.get("answer"))  # 0 (the epoch) for a call never answered
    if answered is None and found["billsec"]:
        answered = ended - timedelta(seconds=int(found["billsec"]))
    cause = found.get("hangupcause")
    return CdrEvidence(str(found["disposition"]), answered, ended,
                       int(cause) if cause not in (None, "") else None)


def cdr_from_stored_event(session: Session, call_id: uuid.UUID) -> CdrEvidence | None:
    """The ``Cdr`` AMI event the consumer stored for the call, if one arrived: a PBX without
    ``cdr_pgsql`` still reports each call's end that way, and it may be the only trace of a
    call that ended while the consumer was reconnecting."""
    payload = CallRepository(session).last_event(call_id, "Cdr")
    if payload is None:
        return None
    message = AMIMessage(tuple((k, str(v)) for k, v in payload.items()))
    ended = pbx_local_time(message, "EndTime")
    if ended is None:
        return None
    return CdrEvidence(message.get("Disposition") or "", pbx_local_time(message, "AnswerTime"),
                       ended)


def _aware(value: datetime | float | None) -> datetime | None:
    """A CDR time: epoch seconds (a float column, to the microsecond) or a timestamp."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC) if value > 0 else None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Reconciled:
    live: int = 0
    settled: int = 0
    unresolved: int = 0
    ended: Ended = field(default_factory=list)


def reconcile(sessions: Sessions, live: Mapping[str, str], *, grace: timedelta,
              cdr_lookup: CdrLookup = cdr_from_pgsql,
              now: datetime | None = None) -> Reconciled:
    """Settle calls that went quiet while not live on the PBX.

    A call is considered only when it was claimed and last changed more than ``grace`` ago, so a
    worker still inside its Originate, or an event still in flight, is never judged. Live calls
    are only brought up to the state the PBX reports (``live`` maps Uniqueid to ChannelState).
    The rest ended while we were not listening: their CDR (the ``cdr`` table, or the Cdr event
    the PBX sent) settles them, and without one they are marked ``unresolved`` and reported,
    never redialled.
    """
    now = now or datetime.now(tz=UTC)
    cutoff = now - grace
    result = Reconciled()
    with sessions.begin() as session:
        repo = CallRepository(session)
        for row in repo.unsettled_attempts(claimed_before=cutoff, idle_since=cutoff):
            old = state_of(row)
            channel_state = live.get(str(row.attempt_id))
            if channel_state is not None:
                result.live += 1
                new = _catch_up(old, channel_state, now)
                if new != old:
                    store_state(row, new)
                    queue_change(session, row, old.status)
                continue
            evidence = cdr_lookup(session, row.attempt_id) if row.attempt_id else None
            evidence = evidence or cdr_from_stored_event(session, row.id)
            if evidence is not None:
                new = apply_event(old, ev.CdrRecorded(
                    evidence.ended_at, disposition=evidence.disposition,
                    answered_at=evidence.answered_at, authoritative=True,
                    hangup_cause=evidence.hangup_cause))
                result.settled += 1
            else:
                new = mark_unresolved(old)
                result.unresolved += 1
                logger.error("call %s (attempt %s) ended while unobserved and has no CDR: "
                             "marked unresolved", row.id, row.attempt_id)
            if new != old:
                store_state(row, new)
                queue_change(session, row, old.status)
                result.ended.append(EndedCall(row.id, row.trunk, row.campaign_id))
    return result


def _catch_up(state: CallState, channel_state: str, now: datetime) -> CallState:
    """Apply what a live channel's state proves; the moment is when we learned it, since the
    events that carried the real time were missed."""
    if channel_state == "6":
        return apply_event(state, ev.CallAnswered(now))
    if channel_state == "5":
        return apply_event(state, ev.CallRinging(now))
    return state


def live_channels_from(items: Iterable[AMIMessage]) -> dict[str, str]:
    """Map the Uniqueid (and Linkedid) of every channel a CoreShowChannels listing reports to
    its ChannelState."""
    live: dict[str, str] = {}
    for item in items:
        state = item.get("ChannelState") or ""
        for header in ("Linkedid", "Uniqueid"):
            value = item.get(header)
            if value:
                live[value] = state
    return live
