"""The JSON shape of a call, shared by the API and the status callbacks (one definition, so a
callback never disagrees with ``GET /v1/calls/{id}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dispatcher.adapters.db.tables import CallRow
from dispatcher.domain.new_calls import NewCall


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def call_json(row: CallRow | NewCall) -> dict[str, Any]:
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
        "created_at": iso(row.created_at),
        "dialed_at": iso(row.dialed_at),
        "answered_at": iso(row.answered_at),
        "ended_at": iso(row.ended_at),
        "duration": _seconds(row.answered_at, row.ended_at),
        "ring_duration": _seconds(ring_start, ring_end) if ring_start else None,
        "cancel_requested": row.cancel_requested_at is not None,
        "placed_by": str(row.api_key_id) if row.api_key_id else None,
        "canceled_by": str(row.canceled_by_key_id) if row.canceled_by_key_id else None,
        "error": row.dial_error,
        "metadata": row.call_metadata,
        "campaign_id": str(row.campaign_id) if row.campaign_id else None,
        "contact_id": row.contact_id,
    }
