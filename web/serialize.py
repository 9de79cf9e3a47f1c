"""JSON shapes of the API resources."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from dispatcher.adapters.db.tables import CallbackDeliveryRow, CallEventRow, CallRow
from dispatcher.domain.errors import BadRequest
from dispatcher.usecases.call_json import call_json, iso

__all__ = ["call_json", "callback_json", "decode_cursor", "encode_cursor", "event_json"]


def callback_json(row: CallbackDeliveryRow) -> dict[str, Any]:
    return {"sequence": row.sequence, "event": row.event, "event_id": str(row.event_id),
            "url": row.url, "state": row.state, "attempts": row.attempts,
            "last_status_code": row.last_status_code, "last_error": row.last_error,
            "created_at": iso(row.created_at), "delivered_at": iso(row.delivered_at),
            "next_attempt_at": iso(row.next_attempt_at) if row.state == "pending" else None}


def event_json(row: CallEventRow) -> dict[str, Any]:
    return {"name": row.name, "at": iso(row.event_at), "received_at": iso(row.received_at),
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
