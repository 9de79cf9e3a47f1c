"""``/v1/dnc-lists``: named do-not-call lists that campaigns apply."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from dispatcher.adapters.db.campaign_repository import DncRepository
from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.numbers import InvalidNumber, NumberPolicy
from dispatcher.usecases import campaigns
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
    row = campaigns.create_dnc_list(deps().sessions, body.get("name"), body.get("description"))
    response = jsonify({"name": row.name, "description": row.description, "numbers": 0,
                        "created_at": iso(row.created_at)})
    response.headers["Location"] = f"/v1/dnc-lists/{row.name}"
    return response, 201


@bp.get("/dnc-lists")
def list_lists() -> ResponseReturnValue:
    with deps().sessions() as session:
        lists = DncRepository(session).lists()
    return jsonify(data=[{"name": row.name, "description": row.description, "numbers": n,
                          "created_at": iso(row.created_at)} for row, n in lists])


@bp.post("/dnc-lists/<name>/numbers")
def add_numbers(name: str) -> ResponseReturnValue:
    body = json_body()
    if not isinstance(body, dict) or set(body) != {"numbers"}:
        raise ValidationFailed("the body must be {numbers: [...]}", field="numbers")
    d = deps()
    added = campaigns.add_dnc_numbers(d.sessions, name, body["numbers"], d.policy)
    return jsonify(added=added.added, invalid=added.invalid)


@bp.get("/dnc-lists/<name>/numbers")
def list_numbers(name: str) -> ResponseReturnValue:
    only_args({"cursor", "limit", "number"})
    d = deps()
    row = campaigns.dnc_list(d.sessions, name)
    limit = limit_arg()
    number = request.args.get("number")
    with d.sessions() as session:
        repo = DncRepository(session)
        if number is not None:
            try:
                e164 = _lenient(d.policy).e164(number)
            except InvalidNumber as exc:
                raise ValidationFailed(f"number {exc}", field="number") from None
            found = [e164] if repo.contains(row.id, e164) else []
            return jsonify(data=found, next_cursor=None)
        cursor = request.args.get("cursor")
        if cursor is not None and not re.fullmatch(r"\+[0-9]{1,15}", cursor):
            raise ValidationFailed("cursor is not valid", field="cursor")
        numbers = repo.numbers(row.id, limit + 1, cursor)
    more = len(numbers) > limit
    numbers = numbers[:limit]
    return jsonify(data=numbers, next_cursor=numbers[-1] if more and numbers else None)


@bp.delete("/dnc-lists/<name>/numbers/<number>")
def remove_number(name: str, number: str) -> ResponseReturnValue:
    d = deps()
    campaigns.remove_dnc_number(d.sessions, name, number, d.policy)
    return "", 204


def _lenient(policy: NumberPolicy) -> NumberPolicy:
    return NumberPolicy(default_region=policy.default_region, allowed_regions=frozenset())
