"""Reading request bodies and common query arguments the same strict way in every blueprint."""

from __future__ import annotations

import json
import math
from collections.abc import Collection

from flask import request

from dispatcher.domain.errors import BadRequest, DispatcherError, ValidationFailed


class UnsupportedMediaType(DispatcherError):
    status = 415
    code = "unsupported-media-type"


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def json_body() -> object:
    """Strict JSON: no NaN/Infinity or numbers that overflow to inf (PostgreSQL's jsonb refuses
    them), and nesting too deep for the parser is a 400, not a crash. Reading the body past
    ``MAX_CONTENT_LENGTH`` raises 413."""
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    try:
        return json.loads(request.get_data(cache=True), parse_constant=_reject_constant,
                          parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None


def optional_json_body() -> object:
    """For endpoints that take no body: none is fine, but one sent must be a JSON object
    within the size limit."""
    if not request.get_data(cache=True):
        return None
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("the request body must be a JSON object")
    return body


def limit_arg() -> int:
    raw = request.args.get("limit", "50")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 500:
        raise ValidationFailed("limit must be an integer from 1 to 500", field="limit")
    return int(raw)


def only_args(allowed: Collection[str]) -> None:
    """Refuse query parameters an endpoint does not take: a misspelt filter would otherwise
    silently list everything."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise ValidationFailed(f"unknown query parameter {unknown[0]!r}", field=unknown[0][:100])
