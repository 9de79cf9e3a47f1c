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

from dispatcher import events as ev
from dispatcher.ami.protocol import AMIMessage
from dispatcher.ami.translate import translate
from dispatcher.callback_outbox import queue_change
from dispatcher.calls import CallState, apply_event, mark_unresolved
from dispatcher.db.repository import (
    CallRepository,
    EventRecord,
    as_payload,
    state_of,
    store_state,
)
from dispatcher.services import Sessions

logger = logging.getLogger(__name__)


class EndedCall(NamedTuple):
    """A call that reached a final state: its line can go, and its campaign can move on."""

    call_id: uuid.UUID
    trunk: str
    campaign_id: uuid.UUID | None = None


Ended = list[EndedCall]


def record_events(sessions: Sessions, messages: Iterable[AMIMessage],
                  received_at: datetime | None = None) -> Ended:
    """Apply a batch of AMI events in one transaction; return the calls that ended in it.

    The batch's call rows are locked up front in attempt-id order, so two consumers working
    through overlapping batches can never deadlock each other.
    """
    items = [t for m in messages if (t := translate(m, received_at)) is not None]
    if not items:
        return []
    ended: Ended = []
    with sessions.begin() as session:
        repo = CallRepository(session)
        rows = repo.lock_attempts(sorted({item.attempt_id for item in items}))
        records = [EventRecord(row.id, item.attempt_id, item.name, item.at,
                               as_payload(item.message.items))
                   for item in items if (row := rows.get(item.attempt_id)) is not None]
        repo.record_events(records)
        for item in items:
            row = rows.get(item.attempt_id)
            if row is None or item.event is None:  # not ours, or nothing to apply
                continue
            old = state_of(row)
            new = apply_event(old, item.event)
            if new != old:
                store_state(row, new)
                queue_change(session, row, old.status)
                if new.status.is_final and not old.status.is_final:
                    ended.append(EndedCall(row.id, row.trunk, row.campaign_id))
    return ended


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
    answered = _aware(found.get("answer"))
    if answered is None and found["billsec"]:
        answered = ended - timedelta(seconds=int(found["billsec"]))
    cause = found.get("hangupcause")
    return CdrEvidence(str(found["disposition"]), answered, ended,
                       int(cause) if cause not in (None, "") else None)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
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
    The rest ended while we were not listening: their CDR settles them, and without one they are
    marked ``unresolved`` and reported, never redialled.
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
            if evidence is not None:
                new = apply_event(old, ev.CdrRecorded(
                    evidence.ended_at, disposition=evidence.disposition,
                    answered_at=evidence.answered_at, authoritative=True,
                    hangup_cause=evidence.hangup_cause))
                result.settled += 1
            else:
                new = mark_unresolved(old, now)
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
