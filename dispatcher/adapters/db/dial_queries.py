"""The dial's own statements, on a raw cursor: read a call, claim it, record the PBX's yes.

They run once per call on the worker's hot path. Through the ORM (a Session, a loaded
``CallRow``, the unit of work at commit) the three cost about 10 ms of CPU per call on this
project's 2-core reference machine, against well under 1 ms for the SQL; when a bulk run
starts and every line is dialled at once, that CPU is what the last line waits for. The
guarded claim below is the at-most-once guarantee (docs/reliability.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatcher.domain.status import CallStatus


@dataclass(frozen=True, slots=True)
class DialCall:
    """A call as dialling reads it: what the checks, the line and the Originate need."""

    id: uuid.UUID
    status: str
    trunk: str
    priority: int
    created_at: datetime
    to_number: str
    dial_string: str
    caller_id: str | None
    ring_timeout: int
    variables: dict[str, str]
    originate_target: dict[str, Any] | None
    campaign_id: uuid.UUID | None
    contact_id: int | None
    dialed_at: datetime | None
    status_callback: str | None
    callback_events: str | None

    def wants_callback(self, event: str) -> bool:
        return bool(self.status_callback) and event in (self.callback_events or "").split()


_COLUMNS = ("id, status, trunk, priority, created_at, to_number, dial_string, caller_id,"
            " ring_timeout, variables, originate_target, campaign_id, contact_id, dialed_at,"
            " status_callback, callback_events")
_LOAD = f"SELECT {_COLUMNS} FROM calls WHERE id = %s"
_CLAIM = (
    "UPDATE calls SET status = %s, attempt_id = %s, claimed_at = now(), updated_at = now(),"
    " dial_error = NULL"
    " WHERE id = %s AND status = %s AND attempt_id IS NULL AND cancel_requested_at IS NULL"
    f" RETURNING {_COLUMNS}")
_MARK_DIALED = (
    # Never after the call's end: a call refused at once can end, on the PBX's clock, before
    # the worker writes down the time its Originate was accepted.
    "UPDATE calls SET dialed_at = coalesce(dialed_at, least(%s, ended_at)) WHERE attempt_id = %s"
    " RETURNING cancel_requested_at IS NOT NULL")


def _call(row: tuple[Any, ...] | None) -> DialCall | None:
    if row is None:
        return None
    (call_id, status, trunk, priority, created_at, to_number, dial_string, caller_id,
     ring_timeout, variables, originate_target, campaign_id, contact_id, dialed_at,
     status_callback, callback_events) = row
    return DialCall(uuid.UUID(str(call_id)), status, trunk, priority, created_at, to_number,
                    dial_string, caller_id, ring_timeout, variables or {}, originate_target,
                    uuid.UUID(str(campaign_id)) if campaign_id else None, contact_id,
                    dialed_at, status_callback, callback_events)


def load_call(cursor: Any, call_id: uuid.UUID) -> DialCall | None:
    cursor.execute(_LOAD, (str(call_id),))
    return _call(cursor.fetchone())


def claim_call(cursor: Any, call_id: uuid.UUID, attempt_id: uuid.UUID) -> DialCall | None:
    """Take a queued call for dialling; None means someone else has it, it was canceled, or
    it is done. Only one delivery of a task can win this UPDATE."""
    cursor.execute(_CLAIM, (CallStatus.INITIATED.value, str(attempt_id), str(call_id),
                            CallStatus.QUEUED.value))
    return _call(cursor.fetchone())


def mark_dialed(cursor: Any, attempt_id: uuid.UUID, now: datetime) -> bool | None:
    """Record when the PBX accepted the Originate (the first time only). Returns whether a
    cancel arrived meanwhile, or None when the attempt matches no call."""
    cursor.execute(_MARK_DIALED, (now, str(attempt_id)))
    row = cursor.fetchone()
    return None if row is None else bool(row[0])
