"""Read-only figures for operators: ``/v1/trunks``, ``/metrics`` and ``/ops``.

Aggregates over many rows, computed at request time; none of them takes a lock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from dispatcher.adapters.db.tables import CallRow
from dispatcher.domain.status import ACTIVE_STATUSES, CallStatus

_LATENCY = text("""
    SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
               ORDER BY extract(epoch FROM dialed_at - created_at))
    FROM calls WHERE dialed_at > now() - interval '5 minutes'""")
_CONSUMER_LAG = text("""
    SELECT percentile_cont(0.99) WITHIN GROUP (
               ORDER BY extract(epoch FROM received_at - event_at))
    FROM call_events WHERE received_at > now() - interval '1 minute'""")
_CALLS = text("SELECT status, coalesce(outcome, ''), count(*) FROM calls GROUP BY 1, 2")
_CAMPAIGNS = text("SELECT status, count(*) FROM campaigns GROUP BY status")
_LIVE_CONTACTS = text(
    "SELECT c.id, c.name, k.state, count(*) FROM campaigns c "
    "JOIN campaign_contacts k ON k.campaign_id = c.id "
    "WHERE c.status IN ('running', 'paused') GROUP BY 1, 2, 3")


def oldest_queued(session: Session) -> dict[str, datetime]:
    """Per trunk, when its oldest call still waiting for a line was accepted."""
    rows = session.execute(
        select(CallRow.trunk, func.min(CallRow.created_at))
        .where(CallRow.status == CallStatus.QUEUED.value).group_by(CallRow.trunk))
    return {trunk: created for trunk, created in rows}


def calls_by_outcome(session: Session) -> list[tuple[str, str, int]]:
    """(status, outcome or '', count) over every stored call."""
    return [(s, o, int(n)) for s, o, n in session.execute(_CALLS)]


def originate_latency(session: Session) -> list[float | None]:
    """p50, p95, p99 seconds from acceptance to the PBX's yes, calls of the last 5 minutes."""
    return list(session.execute(_LATENCY).scalar() or ())


def consumer_lag_p99(session: Session) -> float | None:
    """Seconds from an AMI event to its stored row, p99 over the last minute."""
    value = session.execute(_CONSUMER_LAG).scalar()
    return None if value is None else float(value)


def campaigns_by_status(session: Session) -> list[tuple[str, int]]:
    return [(status, int(n)) for status, n in session.execute(_CAMPAIGNS)]


def live_contacts(session: Session) -> list[tuple[str, str, str, int]]:
    """(campaign id, name, contact state, count) for running and paused campaigns."""
    return [(str(cid), name, state, int(n)) for cid, name, state, n
            in session.execute(_LIVE_CONTACTS)]


def active_calls(session: Session, limit: int) -> list[CallRow]:
    """Calls not yet final, oldest first."""
    return list(session.scalars(
        select(CallRow).where(CallRow.status.in_([s.value for s in ACTIVE_STATUSES]))
        .order_by(CallRow.created_at).limit(limit)))


# --- the last hour, for the operations page's charts and alerts ------------------------------
# Calls are found through ix_calls_created: none lasts longer than max_call_seconds (an hour by
# default), so a call still relevant to the last hour was created within the last few.
_RECENT = "c.created_at > :since - interval '3 hours'"
_LINES_PER_MINUTE = text(f"""
    SELECT c.trunk, m.minute, count(*)
      FROM generate_series(date_trunc('minute', :since), date_trunc('minute', :now),
                           interval '1 minute') AS m(minute)
      JOIN calls c ON c.dialed_at < m.minute + interval '1 minute'
                  AND coalesce(c.ended_at, :now) >= m.minute
     WHERE {_RECENT} AND c.dialed_at IS NOT NULL
     GROUP BY 1, 2""")
_OUTCOMES_PER_MINUTE = text(f"""
    SELECT date_trunc('minute', c.ended_at), coalesce(c.outcome, c.status), count(*)
      FROM calls c WHERE {_RECENT} AND c.ended_at >= :since
     GROUP BY 1, 2""")
_ANSWERS = text(f"""
    SELECT c.trunk, c.campaign_id, k.name, count(*),
           count(*) FILTER (WHERE c.answered_at IS NOT NULL),
           coalesce(sum(extract(epoch FROM c.ended_at - c.answered_at))
                    FILTER (WHERE c.answered_at IS NOT NULL), 0)
      FROM calls c LEFT JOIN campaigns k ON k.id = c.campaign_id
     WHERE {_RECENT} AND c.ended_at >= :since AND c.attempt_id IS NOT NULL
     GROUP BY 1, 2, 3""")
_ENDINGS = text(f"""
    SELECT c.trunk, count(*), count(*) FILTER (WHERE c.status = 'failed'),
           (array_agg(coalesce(c.outcome, c.status) ORDER BY c.ended_at DESC))[1]
      FROM calls c WHERE {_RECENT} AND c.ended_at >= :since AND c.attempt_id IS NOT NULL
     GROUP BY 1""")
_CALLBACK_BACKLOG = text("""
    SELECT count(*), min(created_at) FROM callback_deliveries
     WHERE state = 'pending' AND next_attempt_at <= :now""")


def lines_per_minute(session: Session, since: datetime,
                     now: datetime) -> list[tuple[str, datetime, int]]:
    """(trunk, minute, calls on the wire at any time in it): lines in use, minute by minute."""
    return [(t, m, int(n)) for t, m, n in
            session.execute(_LINES_PER_MINUTE, {"since": since, "now": now})]


def outcomes_per_minute(session: Session, since: datetime) -> list[tuple[datetime, str, int]]:
    """(minute, outcome, calls that ended so in it)."""
    return [(m, o, int(n)) for m, o, n in session.execute(_OUTCOMES_PER_MINUTE,
                                                          {"since": since})]


def answers(session: Session,
            since: datetime) -> list[tuple[str, str | None, int, int, float]]:
    """(trunk, campaign name or None, attempts ended, answered, seconds talked) since then."""
    return [(t, name, int(n), int(a), float(s)) for t, _, name, n, a, s in
            session.execute(_ANSWERS, {"since": since})]


def endings(session: Session, since: datetime) -> list[tuple[str, int, int, str]]:
    """(trunk, attempts ended since then, of which failed, the outcome of the last one)."""
    return [(t, int(n), int(f), last) for t, n, f, last in
            session.execute(_ENDINGS, {"since": since})]


def callback_backlog(session: Session, now: datetime) -> tuple[int, datetime | None]:
    """Status callbacks due and not being sent, and when the oldest of them was written."""
    count, oldest = session.execute(_CALLBACK_BACKLOG, {"now": now}).one()
    return int(count), oldest
