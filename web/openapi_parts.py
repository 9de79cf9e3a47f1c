"""Building blocks of the OpenAPI document shared by its parts."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
CALL = {"$ref": "#/components/schemas/Call"}
READY = {"type": "object", "required": ["status", "checks"], "properties": {
    "status": {"enum": ["ready", "not-ready"]},
    "checks": {"type": "object", "additionalProperties": {"type": "string"}}}}


def responses(ok: str, schema: dict[str, Any], *errors: int) -> dict[str, Any]:
    result: dict[str, Any] = {ok: {"description": "OK",
                                   "content": {"application/json": {"schema": schema}}}}
    for status in errors:
        result[str(status)] = {"description": "Error",
                               "content": {"application/json": {"schema": ERROR}}}
    return result


CALL_ID_PARAM = {"name": "call_id", "in": "path", "required": True,
       "schema": {"type": "string", "format": "uuid"}}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
DB_DOWN = {"description": "PostgreSQL is unavailable; retry after `Retry-After` seconds",
            "headers": {"Retry-After": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": ERROR}}}
VARIABLE_NAME = r"^(?!_*CALL_ID$)[A-Za-z_][A-Za-z0-9_]{0,63}$"
VARIABLE_VALUE = r"^[A-Za-z0-9 _.:@+\-/]{0,128}$"
# What a phone number may look like; whether it is a valid, allowed number is decided by the
# number rules (422), which JSON Schema cannot express.
NUMBER = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[0-9+()\-. ]+$"}


ERROR_RESPONSE = {"content": {"application/json": {"schema": {"$ref":
                                                               "#/components/schemas/Error"}}}}


def with_db(responses: dict[str, Any]) -> dict[str, Any]:
    """Every /v1 operation can also meet a missing scope, a per-key limit, or a database
    outage."""
    return {**responses, "503": DB_DOWN,
            "403": {"description": "the API key lacks the scope", **ERROR_RESPONSE},
            "429": {"description": "per-key rate or concurrent-call limit; see Retry-After",
                    **ERROR_RESPONSE}}


def errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"description": "Error", **ERROR_RESPONSE} for status in statuses}


def page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["data", "next_cursor"], "properties": {
        "data": {"type": "array", "items": item},
        "next_cursor": {"type": ["string", "null"]}}}


def csv_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"text/csv": {"schema": {"type": "string"}}}}

ACTIVITY = {
    "type": "object", "required": ["state", "reason", "until"],
    "description": "What the campaign is doing now, and why it is not dialling when it is "
                   "not. `eta_seconds` is never sooner than `until`.",
    "properties": {
        "state": {"type": "string", "enum": [
            "draft", "dialing", "waiting-for-window", "waiting-for-retries", "trunk-paused",
            "finishing", "paused", "completed", "canceled"]},
        "reason": {"type": "string",
                   "example": "waiting for window (opens Sat 09:00 Asia/Tehran)"},
        "until": {"type": ["string", "null"], "format": "date-time"}}}
