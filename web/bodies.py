"""Reading request bodies and common query arguments the same strict way in every blueprint."""

from __future__ import annotations

import json
import math
from typing import TypeVar

from flask import request
from pydantic import BaseModel

from dispatcher.domain.call_requests import MAX_IDEMPOTENCY_KEY
from dispatcher.domain.errors import BadRequest, DispatcherError
from web.models.common import Acknowledged
from web.models.refusals import validated
from web.models.rules import ApiContext

Q = TypeVar("Q", bound=BaseModel)


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


def idempotency_key() -> str | None:
    """The ``Idempotency-Key`` header, if sent, as the document describes it
    (``web.models.common.IdempotencyKeyText``); anything else is a 400."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isascii()
                                and key.isprintable()):
        raise BadRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII "
                         "characters", field="Idempotency-Key")
    return key


def acknowledged() -> None:
    """For endpoints that take no body: none is fine, but one sent must be a JSON object within
    the size limit, with no fields (there are none yet)."""
    if request.get_data(cache=True):
        validated(Acknowledged, json_body())


def query(model: type[Q], api: ApiContext) -> Q:
    """The query string as ``model``: an unknown argument is refused (a misspelt filter would
    otherwise silently list everything), and each value is checked by its rule."""
    return validated(model, request.args.to_dict(), api, unknown="query parameter")
