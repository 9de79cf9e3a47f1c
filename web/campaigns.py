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
from dispatcher.domain.campaign_rules import ACTIONS
from dispatcher.domain.contact_import import CSV, NDJSON
from dispatcher.domain.errors import NotFound
from dispatcher.usecases import campaign_records, contact_upload
from dispatcher.usecases.call_json import iso
from dispatcher.usecases.campaign_control import CampaignControl
from dispatcher.usecases.campaign_json import campaign_json
from web.auth import require_api_key
from web.bodies import UnsupportedMediaType, acknowledged, idempotency_key, json_body, query
from web.deps import Deps, deps
from web.models.campaigns import (
    CampaignPatch,
    CampaignQuery,
    ContactQuery,
    UploadQuery,
    campaign_spec,
)
from web.models.refusals import validated
from web.serialize import callback_json, decode_cursor, encode_cursor

bp = Blueprint("campaigns", __name__)
bp.before_request(require_api_key)

UPLOAD_TYPES = {"text/csv": CSV, "application/x-ndjson": NDJSON, "application/jsonl": NDJSON,
                "application/x-jsonlines": NDJSON}


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
    spec = campaign_spec(json_body(), d.api)
    view = _control(d).create(spec, g.api_key_id)
    response = jsonify(campaign_json(view))
    response.headers["Location"] = f"/v1/campaigns/{view.row.id}"
    return response, 201


@bp.get("/campaigns")
def list_campaigns() -> ResponseReturnValue:
    d = deps()
    q = query(CampaignQuery, d.api)
    views = _control(d).page(q.status, q.limit + 1,
                             decode_cursor(q.cursor) if q.cursor else None)
    more = len(views) > q.limit
    views = views[:q.limit]
    next_cursor = encode_cursor(views[-1].row) if more and views else None
    return jsonify(data=[campaign_json(v) for v in views], next_cursor=next_cursor)


@bp.get("/campaigns/<campaign_id>")
def get_campaign(campaign_id: str) -> ResponseReturnValue:
    return jsonify(campaign_json(_control(deps()).view(_campaign_id(campaign_id))))


@bp.patch("/campaigns/<campaign_id>")
def update_campaign(campaign_id: str) -> ResponseReturnValue:
    d = deps()
    changes = validated(CampaignPatch, json_body(), d.api).changes()
    view = _control(d).update(_campaign_id(campaign_id), changes, d.trunks,
                              by_key=g.api_key_id)
    return jsonify(campaign_json(view))


def _change(campaign_id: str, action: str) -> ResponseReturnValue:
    acknowledged()
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


@bp.post("/campaigns/<campaign_id>/contacts")
def upload_contacts(campaign_id: str) -> ResponseReturnValue:
    """Streamed: the body is decoded line by line, never held whole as one string."""
    d = deps()
    cid = _campaign_id(campaign_id)
    fmt = _upload_format()
    offset = query(UploadQuery, d.api).line_offset
    key = idempotency_key()
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


@bp.get("/campaigns/<campaign_id>/contacts")
def list_contacts(campaign_id: str) -> ResponseReturnValue:
    d = deps()
    q = query(ContactQuery, d.api)
    rows, more = campaign_records.contacts(
        d.sessions, _campaign_id(campaign_id),
        campaign_records.ContactQuery(q.state, q.outcome, q.to, q.cursor), q.limit)
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

