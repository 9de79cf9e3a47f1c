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
