"""``/v1/campaigns``: create, upload contacts, lifecycle, progress, results and export."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from dispatcher.adapters.db.tables import ContactRow
from dispatcher.domain.campaign_requests import parse_campaign_request
from dispatcher.domain.campaign_rules import ACTIONS, CampaignStatus, ContactState
from dispatcher.domain.contact_import import CSV, NDJSON
from dispatcher.domain.errors import BadRequest, NotFound, ValidationFailed
from dispatcher.domain.numbers import InvalidNumber
from dispatcher.usecases import campaign_records, contact_upload
from dispatcher.usecases.call_json import iso
from dispatcher.usecases.campaign_control import CampaignControl
from dispatcher.usecases.campaign_json import campaign_json
from web.auth import require_api_key
from web.bodies import UnsupportedMediaType, json_body, limit_arg, only_args, optional_json_body
from web.deps import Deps, deps
from web.serialize import callback_json, decode_cursor, encode_cursor

bp = Blueprint("campaigns", __name__)
bp.before_request(require_api_key)

UPLOAD_TYPES = {"text/csv": CSV, "application/x-ndjson": NDJSON, "application/jsonl": NDJSON,
                "application/x-jsonlines": NDJSON}
MAX_LINE_OFFSET = 1_000_000_000


def contact_json(c: ContactRow) -> dict[str, Any]:
    return {"id": c.id, "upload_id": str(c.upload_id) if c.upload_id else None,
            "line": c.line, "to": c.to_number, "state": c.state,
            "outcome": c.outcome, "attempts": c.attempts,
            "next_attempt_at": iso(c.next_attempt_at) if c.state == "pending" else None,
            "last_call_id": str(c.last_call_id) if c.last_call_id else None,
            "last_attempt_at": iso(c.last_attempt_at), "timezone": c.timezone,
            "variables": c.variables, "metadata": c.contact_metadata}


def _campaign_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("no such campaign") from None


def _control(d: Deps) -> CampaignControl:
    return CampaignControl(d.sessions, d.admissions, d.settings.queue_name)


@bp.post("/campaigns")
def create_campaign() -> ResponseReturnValue:
    d = deps()
    spec = parse_campaign_request(json_body(), d.trunks, d.settings.default_caller_id,
                                  allow_private_callbacks=d.settings.callback_allow_private)
    view = _control(d).create(spec, g.api_key_id)
    response = jsonify(campaign_json(view))
    response.headers["Location"] = f"/v1/campaigns/{view.row.id}"
    return response, 201


@bp.get("/campaigns")
def list_campaigns() -> ResponseReturnValue:
    only_args({"status", "cursor", "limit"})
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in CampaignStatus}:
        raise ValidationFailed(f"unknown status {status!r}", field="status")
    cursor = request.args.get("cursor")
    limit = limit_arg()
    views = _control(deps()).page(status, limit + 1, decode_cursor(cursor) if cursor else None)
    more = len(views) > limit
    views = views[:limit]
    next_cursor = encode_cursor(views[-1].row) if more and views else None
    return jsonify(data=[campaign_json(v) for v in views], next_cursor=next_cursor)


@bp.get("/campaigns/<campaign_id>")
def get_campaign(campaign_id: str) -> ResponseReturnValue:
    return jsonify(campaign_json(_control(deps()).view(_campaign_id(campaign_id))))


@bp.patch("/campaigns/<campaign_id>")
def update_campaign(campaign_id: str) -> ResponseReturnValue:
    d = deps()
    view = _control(d).update(_campaign_id(campaign_id), json_body(), d.trunks,
                              allow_private_callbacks=d.settings.callback_allow_private,
                              by_key=g.api_key_id)
    return jsonify(campaign_json(view))


def _change(campaign_id: str, action: str) -> ResponseReturnValue:
    optional_json_body()
    view = _control(deps()).change(_campaign_id(campaign_id), action, g.api_key_id)
    return jsonify(campaign_json(view))


for _action in ACTIONS:
    bp.add_url_rule(f"/campaigns/<campaign_id>/{_action}", f"{_action}_campaign",
                    lambda campaign_id, _a=_action: _change(campaign_id, _a), methods=["POST"])


def _upload_format() -> str:
    mimetype = request.mimetype
    if mimetype not in UPLOAD_TYPES:
        raise UnsupportedMediaType("send contacts as text/csv or application/x-ndjson")
    return UPLOAD_TYPES[mimetype]


def _line_offset() -> int:
    raw = request.args.get("line_offset", "0")
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_LINE_OFFSET:
        raise ValidationFailed("line_offset must be a whole number", field="line_offset")
    return int(raw)


@bp.post("/campaigns/<campaign_id>/contacts")
def upload_contacts(campaign_id: str) -> ResponseReturnValue:
    """Streamed: the body is decoded line by line, never held whole as one string."""
    d = deps()
    cid = _campaign_id(campaign_id)
    fmt = _upload_format()
    offset = _line_offset()
    only_args({"line_offset"})
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 255 and key.isascii() and key.isprintable()):
        raise BadRequest("Idempotency-Key must be 1-255 printable ASCII characters",
                         field="Idempotency-Key")
    request.max_content_length = d.settings.max_upload_bytes
    text = io.TextIOWrapper(io.BufferedReader(request.stream),  # type: ignore[arg-type]
                            encoding="utf-8-sig", errors="replace", newline="")
    result = contact_upload.upload_contacts(d.sessions, cid, text, fmt, d.policy,
                                       line_offset=offset, api_key_id=g.api_key_id,
                                       idempotency_key=key)
    return jsonify(result.as_json())


@bp.get("/campaigns/<campaign_id>/history")
def campaign_history(campaign_id: str) -> ResponseReturnValue:
    """Who did what to the campaign, oldest first (the hopper's completion has no key)."""
    rows = campaign_records.history(deps().sessions, _campaign_id(campaign_id))
    return jsonify(data=[{"action": h.action, "at": iso(h.at),
                          "by": str(h.api_key_id) if h.api_key_id else None,
                          "detail": h.detail} for h in rows])


@bp.get("/campaigns/<campaign_id>/callbacks")
def campaign_callbacks(campaign_id: str) -> ResponseReturnValue:
    """The delivery log of the campaign's lifecycle callbacks, in sequence order."""
    rows = campaign_records.callbacks(deps().sessions, _campaign_id(campaign_id))
    return jsonify(data=[callback_json(r) for r in rows])


@bp.get("/campaigns/<campaign_id>/uploads")
def list_uploads(campaign_id: str) -> ResponseReturnValue:
    uploads = campaign_records.uploads(deps().sessions, _campaign_id(campaign_id))
    return jsonify(data=[contact_upload.UploadResult(u).as_json()
                         | {"created_at": iso(u.created_at)} for u in uploads])


@bp.get("/campaigns/<campaign_id>/uploads/<upload_id>/rejects")
def upload_rejects(campaign_id: str, upload_id: str) -> ResponseReturnValue:
    """The rejected rows of one upload as CSV: line number and reason."""
    cid = _campaign_id(campaign_id)
    try:
        uid = uuid.UUID(upload_id)
    except ValueError:
        raise NotFound("no such upload") from None
    rejects = campaign_records.upload_rejects(deps().sessions, cid, uid)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["line", "reason"])
    writer.writerows((r.line, r.reason) for r in rejects)
    return Response(buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="rejects-{uid}.csv"'})


CONTACT_PARAMS = frozenset({"state", "outcome", "to", "cursor", "limit"})


@bp.get("/campaigns/<campaign_id>/contacts")
def list_contacts(campaign_id: str) -> ResponseReturnValue:
    only_args(CONTACT_PARAMS)
    state = request.args.get("state")
    if state is not None and state not in {s.value for s in ContactState}:
        raise ValidationFailed(f"unknown state {state!r}", field="state")
    outcome = request.args.get("outcome")
    if outcome is not None and not (0 < len(outcome) <= 32 and outcome.isprintable()):
        raise ValidationFailed("outcome must be 1-32 printable characters", field="outcome")
    to = request.args.get("to")
    if to is not None:
        try:
            to = deps().policy.e164(to)
        except InvalidNumber as exc:
            raise ValidationFailed(f"to {exc}", field="to") from None
    cursor = request.args.get("cursor")
    after = None
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) < 19):
            raise ValidationFailed("cursor is not valid", field="cursor")
        after = int(cursor)
    limit = limit_arg()
    rows, more = campaign_records.contacts(
        deps().sessions, _campaign_id(campaign_id),
        campaign_records.ContactQuery(state, outcome, to, after), limit)
    return jsonify(data=[contact_json(c) for c in rows],
                   next_cursor=str(rows[-1].id) if more and rows else None)


EXPORT_HEADER = ["upload", "line", "to", "state", "outcome", "attempts", "last_call_id",
                 "last_attempt_at", "attempt_outcomes"]


@bp.get("/campaigns/<campaign_id>/export")
def export_contacts(campaign_id: str) -> ResponseReturnValue:
    """Every contact with its attempts and final outcome, streamed as CSV."""
    cid = _campaign_id(campaign_id)
    exported = campaign_records.export(deps().sessions, cid)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(EXPORT_HEADER)
        for n, row in enumerate(exported, start=1):
            upload, line, to, state, outcome, attempts, call_id, at, outcomes = row
            writer.writerow([upload or "", line, to, state, outcome or "", attempts,
                             call_id or "", iso(at) or "", outcomes or ""])
            if n % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(rows()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="campaign-{cid}.csv"'})

