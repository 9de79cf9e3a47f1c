"""``/v1/calls``: submit, read, list, cancel, and the recorded AMI events of a call."""

from __future__ import annotations

import uuid

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from dispatcher.adapters.db.calls import CallFilter
from dispatcher.domain.call_requests import MAX_BATCH_IDEMPOTENCY_KEY
from dispatcher.domain.errors import BadRequest, NotFound
from dispatcher.usecases import call_records, submit_call
from dispatcher.usecases.cancel_call import Canceller
from web.auth import require_api_key
from web.bodies import acknowledged, idempotency_key, json_body, query
from web.deps import Deps, deps
from web.models.calls import CallBatch, CallBody, CallQuery
from web.models.refusals import validated
from web.serialize import (
    call_json,
    callback_json,
    decode_cursor,
    encode_cursor,
    event_json,
)

bp = Blueprint("calls", __name__)
bp.before_request(require_api_key)


def _call_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("no such call") from None


@bp.post("/calls")
def create_call() -> ResponseReturnValue:
    """One call (a JSON object) or a batch (a JSON array of them, all accepted or none)."""
    key = idempotency_key()
    d = deps()
    body = json_body()
    if isinstance(body, list):
        return _create_batch(d, body, key)
    call_request = validated(CallBody, body, d.api).call_request(d.api)
    placed = _submitter(d).place([call_request], api_key_id=g.api_key_id,
                                 max_active_calls=g.principal.max_active_calls,
                                 idempotency_key=key, batch=False)
    (call,) = placed.calls
    if not placed.created:
        return jsonify(call_json(call)), 200
    response = jsonify(call_json(call))
    response.headers["Location"] = f"/v1/calls/{call.id}"
    return response, 202


def _create_batch(d: Deps, body: list[object], key: str | None) -> ResponseReturnValue:
    if key is not None and len(key) > MAX_BATCH_IDEMPOTENCY_KEY:
        raise BadRequest(f"a batch's Idempotency-Key is at most {MAX_BATCH_IDEMPOTENCY_KEY} "
                         "characters (each call is stored under the key, '#' and its index)",
                         field="Idempotency-Key")
    batch = validated(CallBatch, body, d.api)
    call_requests = [call.call_request(d.api) for call in batch.root]
    placed = _submitter(d).place(call_requests, api_key_id=g.api_key_id,
                                 max_active_calls=g.principal.max_active_calls,
                                 idempotency_key=key, batch=True)
    return jsonify(data=[call_json(call) for call in placed.calls]), \
        202 if placed.created else 200


def _submitter(d: Deps) -> submit_call.Submitter:
    return submit_call.Submitter(d.sessions, d.admissions, d.number_cap)


@bp.get("/calls/<call_id>")
def get_call(call_id: str) -> ResponseReturnValue:
    return jsonify(call_json(call_records.get_call(deps().sessions, _call_id(call_id))))


@bp.get("/calls")
def list_calls() -> ResponseReturnValue:
    d = deps()
    q = query(CallQuery, d.api)
    flt = CallFilter(status=q.status, to_number=q.to, created_after=q.created_after,
                     created_before=q.created_before, campaign_id=q.campaign_id)
    after = decode_cursor(q.cursor) if q.cursor else None
    rows, more = call_records.list_calls(d.sessions, flt, q.limit, after)
    next_cursor = encode_cursor(rows[-1]) if more and rows else None
    return jsonify(data=[call_json(r) for r in rows], next_cursor=next_cursor)


@bp.post("/calls/<call_id>/cancel")
def cancel_call(call_id: str) -> ResponseReturnValue:
    acknowledged()  # no fields yet; a body is still held to the usual rules
    d = deps()
    result = Canceller(d.sessions, d.admissions, d.hangup).cancel(_call_id(call_id),
                                                                   g.api_key_id)
    return jsonify(call_json(result.call)), 202 if result.needs_hangup else 200


@bp.get("/calls/<call_id>/events")
def call_events(call_id: str) -> ResponseReturnValue:
    rows = call_records.call_events(deps().sessions, _call_id(call_id))
    return jsonify(data=[event_json(r) for r in rows])


@bp.get("/calls/<call_id>/callbacks")
def call_callbacks(call_id: str) -> ResponseReturnValue:
    """The delivery log of the call's status callbacks, in sequence order."""
    rows = call_records.call_callbacks(deps().sessions, _call_id(call_id))
    return jsonify(data=[callback_json(r) for r in rows])
