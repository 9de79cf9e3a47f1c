"""The statements behind the last checks before a dial, and behind taking a call back.

They run inside the claim's transaction (see :mod:`dispatcher.usecases.dial_guard`, which holds
the rules); this module only knows how to ask PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from dispatcher.adapters.db.tables import CallRow, ContactRow
from dispatcher.domain.status import CallStatus


def recent_dials(session: Session, numbers: Sequence[str],
                 since: datetime) -> dict[str, list[datetime]]:
    """When each number was claimed for dialling after ``since``, newest first."""
    rows = session.execute(
        select(CallRow.to_number, CallRow.claimed_at)
        .where(CallRow.to_number.in_(numbers), CallRow.claimed_at > since)
        .order_by(CallRow.to_number, CallRow.claimed_at.desc()))
    seen: dict[str, list[datetime]] = {}
    for number, claimed_at in rows:
        seen.setdefault(number, []).append(claimed_at)
    return seen


def lock_number(session: Session, number: str) -> None:
    """Serialise dials of one number until the transaction ends (an advisory lock)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": number})


def dials_since(session: Session, number: str, since: datetime) -> int:
    count = session.scalar(
        select(func.count()).select_from(CallRow)
        .where(CallRow.to_number == number, CallRow.claimed_at > since))
    return int(count or 0)


def contact_timezone(session: Session, contact_id: int) -> str | None:
    return session.scalar(select(ContactRow.timezone).where(ContactRow.id == contact_id))


def close_unclaimed(session: Session, call_id: uuid.UUID, status: CallStatus,
                    reason: str) -> bool:
    """Close a queued call that no worker has claimed; False if one has, or it is closed."""
    result = session.execute(
        update(CallRow)
        .where(CallRow.id == call_id, CallRow.status == CallStatus.QUEUED.value,
               CallRow.attempt_id.is_(None))
        .values(status=status.value, outcome=reason, ended_at=func.now(),
                updated_at=func.now(), dial_error=f"not dialled: {reason}"))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def unclaim(session: Session, call_id: uuid.UUID, attempt_id: uuid.UUID) -> None:
    """Give a claimed call back to the queue, if nothing was dialled for it."""
    session.execute(
        update(CallRow)
        .where(CallRow.id == call_id, CallRow.attempt_id == attempt_id,
               CallRow.status == CallStatus.INITIATED.value, CallRow.dialed_at.is_(None))
        .values(status=CallStatus.QUEUED.value, attempt_id=None, claimed_at=None))


def note_attempt(session: Session, attempt_id: uuid.UUID, **values: Any) -> None:
    """Write columns of the call an attempt belongs to (an error, a Local channel's name)."""
    session.execute(update(CallRow).where(CallRow.attempt_id == attempt_id).values(**values))
