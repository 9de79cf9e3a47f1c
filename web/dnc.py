"""``/v1/dnc-lists``: named do-not-call lists that campaigns apply."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from dispatcher.usecases import dnc_lists
from dispatcher.usecases.call_json import iso
from web.auth import require_api_key
from web.bodies import json_body, query
from web.deps import deps
from web.models.dnc import DncListBody, DncNumberQuery, DncNumbersBody
from web.models.refusals import validated

bp = Blueprint("dnc", __name__)
bp.before_request(require_api_key)


@bp.post("/dnc-lists")
def create_list() -> ResponseReturnValue:
    d = deps()
    body = validated(DncListBody, json_body(), d.api)
    row = dnc_lists.create_list(d.sessions, body.name, body.description)
    response = jsonify({"name": row.name, "description": row.description, "numbers": 0,
                        "created_at": iso(row.created_at)})
    response.headers["Location"] = f"/v1/dnc-lists/{row.name}"
    return response, 201


@bp.get("/dnc-lists")
def list_lists() -> ResponseReturnValue:
    lists = dnc_lists.all_lists(deps().sessions)
    return jsonify(data=[{"name": row.name, "description": row.description, "numbers": n,
                          "created_at": iso(row.created_at)} for row, n in lists])


@bp.post("/dnc-lists/<name>/numbers")
def add_numbers(name: str) -> ResponseReturnValue:
    d = deps()
    body = validated(DncNumbersBody, json_body(), d.api)
    added = dnc_lists.add_numbers(d.sessions, name, body.numbers, d.policy)
    return jsonify(added=added.added, invalid=added.invalid)


@bp.get("/dnc-lists/<name>/numbers")
def list_numbers(name: str) -> ResponseReturnValue:
    d = deps()
    q = query(DncNumberQuery, d.api)
    if q.number is not None:
        return jsonify(data=dnc_lists.lookup(d.sessions, name, q.number, d.policy),
                       next_cursor=None)
    found, more = dnc_lists.list_numbers(d.sessions, name, q.limit, q.cursor)
    return jsonify(data=found, next_cursor=found[-1] if more and found else None)


@bp.delete("/dnc-lists/<name>/numbers/<number>")
def remove_number(name: str, number: str) -> ResponseReturnValue:
    d = deps()
    dnc_lists.remove_number(d.sessions, name, number, d.policy)
    return "", 204
