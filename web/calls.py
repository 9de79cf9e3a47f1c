"""``/v1/calls``: submit, read, list, cancel, and the recorded AMI events of a call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from dispatcher.adapters.db.calls import CallFilter
from dispatcher.domain.call_requests import (
    MAX_BATCH_IDEMPOTENCY_KEY,
    MAX_IDEMPOTENCY_KEY,
    parse_call_batch,
    parse_call_request,
)
from dispatcher.domain.errors import BadRequest, NotFound, ValidationFailed
from dispatcher.domain.numbers import InvalidNumber
from dispatcher.domain.status import CallStatus
from dispatcher.usecases import call_records, submit_call
from dispatcher.usecases.cancel_call import Canceller
from web.auth import require_api_key
from web.bodies import json_body as _json_body
from web.bodies import limit_arg as _limit
from web.bodies import only_args
from web.bodies import optional_json_body as _optional_json_body
from web.deps import Deps, deps
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
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isascii()
                                and key.isprintable()):
        raise BadRequest("Idempotency-Key must be 1-255 printable ASCII characters",
                         field="Idempotency-Key")
    d = deps()
    body = _json_body()
    if isinstance(body, list):
        return _create_batch(d, body, key)
    call_request = parse_call_request(
        body, d.policy, d.settings.default_caller_id, d.trunks,
        allow_private_callbacks=d.settings.callback_allow_private)
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
    call_requests = parse_call_batch(
        body, d.policy, d.settings.default_caller_id, d.trunks,
        allow_private_callbacks=d.settings.callback_allow_private)
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


def _datetime_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be an ISO 8601 timestamp", field=name) from None
    if value.tzinfo is None:
        raise ValidationFailed(f"{name} needs a time zone offset", field=name)
    try:
        # PostgreSQL refuses offsets beyond +-15:59 that Python accepts: send UTC.
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed(f"{name} is out of range", field=name) from None


LIST_PARAMS = frozenset({"status", "to", "created_after", "created_before", "cursor", "limit",
                         "campaign_id"})


@bp.get("/calls")
def list_calls() -> ResponseReturnValue:
    only_args(LIST_PARAMS)
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in CallStatus}:
        raise ValidationFailed(f"unknown status {status!r}", field="status")
    to = request.args.get("to")
    if to is not None:
        try:
            to = deps().policy.parse(to).e164
        except InvalidNumber as exc:
            raise ValidationFailed(f"to {exc}", field="to") from None
    campaign = request.args.get("campaign_id")
    try:
        campaign_id = uuid.UUID(campaign) if campaign is not None else None
    except ValueError:
        raise ValidationFailed("campaign_id must be a UUID", field="campaign_id") from None
    flt = CallFilter(status=status, to_number=to, created_after=_datetime_arg("created_after"),
                     created_before=_datetime_arg("created_before"), campaign_id=campaign_id)
    cursor = request.args.get("cursor")
    after = decode_cursor(cursor) if cursor else None
    limit = _limit()
    rows, more = call_records.list_calls(deps().sessions, flt, limit, after)
    next_cursor = encode_cursor(rows[-1]) if more and rows else None
    return jsonify(data=[call_json(r) for r in rows], next_cursor=next_cursor)


@bp.post("/calls/<call_id>/cancel")
def cancel_call(call_id: str) -> ResponseReturnValue:
    _optional_json_body()  # no fields yet; a body is still held to the usual rules
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
