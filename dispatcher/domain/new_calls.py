"""A call as the API records it: the values of a fresh ``queued`` row, as a plain object.

Submitting a call is the API's hot path (bulk scripts send hundreds a second). An ORM row
costs an instrumented attribute write per column to build and an instrumented read per field
to answer; this holds the same values in slots, is inserted with one plain statement
(:func:`dispatcher.adapters.db.calls.insert_new_calls`) and answers through the same
:func:`dispatcher.usecases.call_json.call_json` as a stored row, so the two can never disagree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatcher.domain.call_requests import CallRequest
from dispatcher.domain.status import CallStatus


@dataclass(frozen=True, slots=True)
class NewCall:
    id: uuid.UUID
    api_key_id: uuid.UUID | None
    idempotency_key: str | None
    request_hash: str | None  # only what an Idempotency-Key replay must match
    to_number: str
    dial_string: str
    caller_id: str | None
    ring_timeout: int
    trunk: str
    priority: int
    variables: dict[str, str]
    call_metadata: Any
    status_callback: str | None
    callback_events: str
    created_at: datetime
    source: str = "api"
    status: str = CallStatus.QUEUED.value
    # What the JSON shape reads and a queued call does not have yet.
    outcome: None = None
    hangup_cause: None = None
    hangup_cause_text: None = None
    sip_code: None = None
    dialed_at: None = None
    ringing_at: None = None
    answered_at: None = None
    ended_at: None = None
    cancel_requested_at: None = None
    canceled_by_key_id: None = None
    dial_error: None = None
    campaign_id: None = None
    contact_id: None = None

    @classmethod
    def from_request(cls, call_id: uuid.UUID, request: CallRequest,
                     api_key_id: uuid.UUID | None,
                     idempotency_key: str | None, fingerprint: str | None,
                     now: datetime) -> NewCall:
        return cls(
            id=call_id, api_key_id=api_key_id, idempotency_key=idempotency_key,
            request_hash=fingerprint, to_number=request.to,
            dial_string=request.dial_string, caller_id=request.caller_id,
            ring_timeout=request.timeout, trunk=request.trunk, priority=request.priority,
            variables=request.variables, call_metadata=request.metadata,
            status_callback=request.status_callback,
            callback_events=" ".join(request.callback_events), created_at=now)
