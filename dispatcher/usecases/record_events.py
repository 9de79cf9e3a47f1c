"""Recording AMI events: how what the PBX reports becomes rows in PostgreSQL.

Every event is applied under ``SELECT ... FOR UPDATE`` of its call and stored once (a content
key makes a repeat a no-op), and the state machine only moves forward, so replays, duplicates
and a second consumer running in parallel all leave the same rows behind.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from redis.exceptions import RedisError

from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.adapters.ami.translate import translate
from dispatcher.adapters.db.call_events import CallEventRepository
from dispatcher.adapters.db.calls import CallRepository, store_state
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.event_log import EventLog
from dispatcher.adapters.db.tables import CallRow
from dispatcher.adapters.tasknames import RUN_HOPPER
from dispatcher.domain import events as ev
from dispatcher.domain.call_state import CallState, apply_event
from dispatcher.domain.status import CallStatus
from dispatcher.usecases.admission import Admissions
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
        CallEventRepository(session).record_events(batch.log)
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
class ReleaseLines:
    """What follows a committed batch (or a reconciliation) in which calls ended: their lines
    go back to their trunks, and a campaign's freed lines are refilled now rather than at the
    hopper's next tick. With Redis away the release waits: the calls are final in PostgreSQL,
    so the next line resync drops their leases anyway."""

    admissions: Admissions | None
    hopper_queue: str

    def __call__(self, ended: Ended) -> None:
        if self.admissions is None or not ended:
            return
        try:
            self.admissions.release_many((call.call_id, call.trunk) for call in ended)
        except RedisError as exc:
            logger.warning("could not free %d line(s) now (%s); the next resync will",
                           len(ended), type(exc).__name__)
        if any(call.campaign_id for call in ended):
            try:
                self.admissions.sender.send(RUN_HOPPER, [], self.hopper_queue)
            except Exception as exc:  # an optimisation only: the tick comes within a second
                logger.warning("could not wake the hopper (%s)", type(exc).__name__)
