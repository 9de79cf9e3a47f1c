"""Reconciliation: settle the calls that ended while no consumer saw them.

AMI keeps nothing for a disconnected client. After every (re)connect, and periodically, the
consumer asks the PBX which channels are live; a quiet call that is not live ended meanwhile,
and what the PBX recorded of it (the ``cdr`` table cdr_pgsql writes, or the Cdr event the
consumer stored) settles it. Without any of that it is marked ``unresolved``: reported, never
redialled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.adapters.ami.translate import pbx_local_time
from dispatcher.adapters.db.call_events import CallEventRepository
from dispatcher.adapters.db.calls import CallRepository, state_of, store_state
from dispatcher.adapters.db.cdr_schema import cdr_from_pgsql
from dispatcher.adapters.db.engine import Sessions
from dispatcher.domain import events as ev
from dispatcher.domain.call_state import CallState, apply_event, mark_unresolved
from dispatcher.domain.events import CdrEvidence
from dispatcher.usecases.callback_outbox import queue_change
from dispatcher.usecases.record_events import Ended, EndedCall

logger = logging.getLogger(__name__)

CdrLookup = Callable[[Session, uuid.UUID], CdrEvidence | None]


def cdr_from_stored_event(session: Session, call_id: uuid.UUID) -> CdrEvidence | None:
    """The ``Cdr`` AMI event the consumer stored for the call, if one arrived: a PBX without
    ``cdr_pgsql`` still reports each call's end that way, and it may be the only trace of a
    call that ended while the consumer was reconnecting."""
    payload = CallEventRepository(session).last_event(call_id, "Cdr")
    if payload is None:
        return None
    message = AMIMessage(tuple((k, str(v)) for k, v in payload.items()))
    ended = pbx_local_time(message, "EndTime")
    if ended is None:
        return None
    return CdrEvidence(message.get("Disposition") or "", pbx_local_time(message, "AnswerTime"),
                       ended)


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
