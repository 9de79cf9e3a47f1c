"""JSON shapes of the API resources."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from dispatcher.db.tables import CallEventRow, CallRow
from dispatcher.errors import BadRequest


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def call_json(row: CallRow) -> dict[str, Any]:
    ring_start = row.ringing_at or row.dialed_at
    ring_end = row.answered_at or row.ended_at
    return {
        "id": str(row.id),
        "to": row.to_number,
        "from": row.caller_id,
        "status": row.status,
        "outcome": row.outcome,
        "hangup_cause": row.hangup_cause,
        "hangup_cause_text": row.hangup_cause_text,
        "sip_code": row.sip_code,
        "timeout": row.ring_timeout,
        "priority": row.priority,
        "trunk": row.trunk,
        "variables": row.variables or {},
        "created_at": _iso(row.created_at),
        "dialed_at": _iso(row.dialed_at),
        "answered_at": _iso(row.answered_at),
        "ended_at": _iso(row.ended_at),
        "duration": _seconds(row.answered_at, row.ended_at),
        "ring_duration": _seconds(ring_start, ring_end) if ring_start else None,
        "cancel_requested": row.cancel_requested_at is not None,
        "placed_by": str(row.api_key_id) if row.api_key_id else None,
        "canceled_by": str(row.canceled_by_key_id) if row.canceled_by_key_id else None,
        "error": row.dial_error,
        "metadata": row.call_metadata,
    }


def event_json(row: CallEventRow) -> dict[str, Any]:
    return {"name": row.name, "at": _iso(row.event_at), "received_at": _iso(row.received_at),
            "headers": row.payload}


def encode_cursor(row: CallRow) -> str:
    raw = json.dumps([row.created_at.isoformat(), str(row.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
        if not (isinstance(decoded, list) and len(decoded) == 2
                and all(isinstance(part, str) for part in decoded)):
            raise ValueError("not a [created_at, id] pair")
        created = datetime.fromisoformat(decoded[0])
        if created.tzinfo is None:
            raise ValueError("naive timestamp")
        return created.astimezone(UTC), uuid.UUID(decoded[1])
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise BadRequest("cursor is not valid", field="cursor") from exc
