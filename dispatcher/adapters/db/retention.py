"""The statements of the history purge: walk calls in creation order from where the last run
stopped, delete the event log of finished ones, and (with a call retention) the calls."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, delete, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatcher.adapters.db.bookkeeping import RetentionMarkRow
from dispatcher.adapters.db.tables import CallEventRow, CallRow, CampaignRow

Mark = tuple[datetime, uuid.UUID]


class OldCall(NamedTuple):
    id: uuid.UUID
    created_at: datetime
    status: str
    campaign_status: str | None  # None: not a campaign's call


def mark(session: Session, name: str) -> Mark | None:
    row = session.get(RetentionMarkRow, name)
    return (row.upto_created, row.upto_id) if row else None


def set_mark(session: Session, name: str, upto: Mark) -> None:
    session.execute(insert(RetentionMarkRow).values(name=name, upto_created=upto[0],
                                                     upto_id=upto[1])
                    .on_conflict_do_update(index_elements=["name"],
                                           set_={"upto_created": upto[0], "upto_id": upto[1]}))


def calls_after(session: Session, after: Mark | None, before: datetime,
                limit: int) -> list[OldCall]:
    """The next calls created before ``before``, in (created_at, id) order after ``after``."""
    stmt = (select(CallRow.id, CallRow.created_at, CallRow.status, CampaignRow.status)
            .outerjoin(CampaignRow, CampaignRow.id == CallRow.campaign_id)
            .where(CallRow.created_at < before))
    if after is not None:
        created, call_id = after
        stmt = stmt.where(or_(CallRow.created_at > created,
                              and_(CallRow.created_at == created, CallRow.id > call_id)))
    stmt = stmt.order_by(CallRow.created_at, CallRow.id).limit(limit)
    return [OldCall(*row) for row in session.execute(stmt)]


def delete_events(session: Session, call_ids: Sequence[uuid.UUID]) -> int:
    if not call_ids:
        return 0
    result = session.execute(delete(CallEventRow).where(CallEventRow.call_id.in_(call_ids)))
    return int(result.rowcount)  # type: ignore[attr-defined]


def delete_calls(session: Session, call_ids: Sequence[uuid.UUID]) -> int:
    """The calls, their event log and (by cascade) their callback deliveries."""
    if not call_ids:
        return 0
    delete_events(session, call_ids)
    result = session.execute(delete(CallRow).where(CallRow.id.in_(call_ids)))
    return int(result.rowcount)  # type: ignore[attr-defined]


_COMPACT_TALLIES = text("""
    WITH old AS (
        DELETE FROM campaign_contact_tallies
         WHERE at < :before AND at > '-infinity'
        RETURNING campaign_id, state, outcome, n)
    INSERT INTO campaign_contact_tallies AS t (campaign_id, state, outcome, n, at)
    SELECT campaign_id, state, outcome, sum(n), '-infinity' FROM old GROUP BY 1, 2, 3
    ON CONFLICT (campaign_id, state, (coalesce(outcome, ''))) WHERE at = '-infinity'
    DO UPDATE SET n = t.n + excluded.n""")


def compact_tallies(session: Session, before: datetime) -> int:
    """Fold the campaign tallies dated before ``before`` into one row per (campaign, state,
    outcome); returns how many folded rows were written."""
    result = session.execute(_COMPACT_TALLIES, {"before": before})
    return int(result.rowcount)  # type: ignore[attr-defined]


_COMPACT_CALL_TALLIES = text("""
    WITH old AS (
        DELETE FROM campaign_call_tallies WHERE at > '-infinity'
        RETURNING campaign_id, status, n)
    INSERT INTO campaign_call_tallies AS t (campaign_id, status, n, at)
    SELECT campaign_id, status, sum(n), '-infinity' FROM old GROUP BY 1, 2
    ON CONFLICT (campaign_id, status) WHERE at = '-infinity'
    DO UPDATE SET n = t.n + excluded.n""")


def compact_call_tallies(session: Session) -> int:
    """Fold every campaign call tally into one row per (campaign, status), whatever its age
    (nothing reads when a call tally was written); returns how many folded rows were
    written. Rows other transactions have not committed yet wait for the next run."""
    result = session.execute(_COMPACT_CALL_TALLIES)
    return int(result.rowcount)  # type: ignore[attr-defined]
