"""Retention an operator sets once: keep each call's AMI event log for N days
(``DISPATCHER_EVENT_RETENTION_DAYS``, default 30) and the calls themselves for M days
(``DISPATCHER_CALL_RETENTION_DAYS``, default 0: forever).

Beat runs :func:`purge` every minute (it also folds the campaign contact tallies older than
ten minutes, migration 0012, and all campaign call tallies, migration 0013). It works in small
batches, each its own short transaction (no long lock on a table the consumer writes at the
PBX's event rate), and at most a few per run. It never touches a call that is not finished,
nor a campaign's call while the campaign runs: it stops at the first such call and comes back
to it, so nothing is passed over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dispatcher.adapters.db import retention as db
from dispatcher.adapters.db.engine import Sessions
from dispatcher.domain.campaign_rules import CampaignStatus
from dispatcher.domain.status import CallStatus

logger = logging.getLogger(__name__)

EVENTS, CALLS = "events", "calls"
TALLY_WINDOW = timedelta(minutes=10)  # recent tallies stay apart: a campaign's rate reads them


@dataclass(frozen=True)
class RetentionPolicy:
    event_days: int = 30  # 0: keep the event log forever
    call_days: int = 0  # 0: keep calls forever
    batch: int = 1000  # calls per transaction
    max_batches: int = 10  # per run: a backlog is worked off over several runs


@dataclass
class Purged:
    events: int = 0
    calls: int = 0
    stopped_at: dict[str, str] = field(default_factory=dict)  # why a walk stopped early


def purge(sessions: Sessions, policy: RetentionPolicy, now: datetime) -> Purged:
    result = Purged()
    with sessions.begin() as session:
        db.compact_tallies(session, now - TALLY_WINDOW)
        db.compact_call_tallies(session)
    if policy.event_days > 0:
        result.events = _walk(sessions, EVENTS, now - timedelta(days=policy.event_days),
                              policy, result)
    if policy.call_days > 0:
        result.calls = _walk(sessions, CALLS, now - timedelta(days=policy.call_days),
                             policy, result)
    if result.events or result.calls:
        logger.info("retention: removed %d event row(s) and %d call(s)", result.events,
                    result.calls)
    return result


def _kept_because(call: db.OldCall, walk: str) -> str | None:
    if not CallStatus(call.status).is_final:
        return f"call {call.id} is {call.status}"
    if walk == CALLS and call.campaign_status is not None \
            and not CampaignStatus(call.campaign_status).is_final:
        return f"call {call.id} belongs to a campaign that is {call.campaign_status}"
    return None


def _walk(sessions: Sessions, walk: str, before: datetime, policy: RetentionPolicy,
          result: Purged) -> int:
    removed = 0
    for _ in range(policy.max_batches):
        with sessions.begin() as session:
            calls = db.calls_after(session, db.mark(session, walk), before, policy.batch)
            done = []
            for call in calls:
                reason = _kept_because(call, walk)
                if reason:
                    result.stopped_at[walk] = reason
                    break
                done.append(call)
            if not done:
                return removed
            ids = [c.id for c in done]
            removed += (db.delete_events(session, ids) if walk == EVENTS
                        else db.delete_calls(session, ids))
            db.set_mark(session, walk, (done[-1].created_at, done[-1].id))
        if len(done) < len(calls) or len(calls) < policy.batch:
            return removed
    return removed
