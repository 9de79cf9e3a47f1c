"""``/v1/dnc-lists``: named do-not-call lists that campaigns apply."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from dispatcher.domain.errors import ValidationFailed
from dispatcher.usecases import dnc_lists
from dispatcher.usecases.call_json import iso
from web.auth import require_api_key
from web.bodies import json_body, limit_arg, only_args
from web.deps import deps

bp = Blueprint("dnc", __name__)
bp.before_request(require_api_key)


@bp.post("/dnc-lists")
def create_list() -> ResponseReturnValue:
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"name", "description"}:
        raise ValidationFailed("the body must be {name, description}")
    row = dnc_lists.create_list(deps().sessions, body.get("name"), body.get("description"))
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
    body = json_body()
    if not isinstance(body, dict) or set(body) != {"numbers"}:
        raise ValidationFailed("the body must be {numbers: [...]}", field="numbers")
    d = deps()
    added = dnc_lists.add_numbers(d.sessions, name, body["numbers"], d.policy)
    return jsonify(added=added.added, invalid=added.invalid)


@bp.get("/dnc-lists/<name>/numbers")
def list_numbers(name: str) -> ResponseReturnValue:
    only_args({"cursor", "limit", "number"})
    d = deps()
    limit = limit_arg()
    number = request.args.get("number")
    if number is not None:
        return jsonify(data=dnc_lists.lookup(d.sessions, name, number, d.policy),
                       next_cursor=None)
    found, more = dnc_lists.list_numbers(d.sessions, name, limit, request.args.get("cursor"))
    return jsonify(data=found, next_cursor=found[-1] if more and found else None)


@bp.delete("/dnc-lists/<name>/numbers/<number>")
def remove_number(name: str, number: str) -> ResponseReturnValue:
    d = deps()
    dnc_lists.remove_number(d.sessions, name, number, d.policy)
    return "", 204
