"""``/openapi.json``: a hand-written OpenAPI 3.1 description of every endpoint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from dispatcher.call_requests import TIMEOUT_RANGE
from dispatcher.status import CallStatus

bp = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}
_CALL = {"$ref": "#/components/schemas/Call"}


def _responses(ok: str, schema: dict[str, Any], *errors: int) -> dict[str, Any]:
    result: dict[str, Any] = {ok: {"description": "OK",
                                   "content": {"application/json": {"schema": schema}}}}
    for status in errors:
        result[str(status)] = {"description": "Error",
                               "content": {"application/json": {"schema": _ERROR}}}
    return result


_ID = {"name": "call_id", "in": "path", "required": True,
       "schema": {"type": "string", "format": "uuid"}}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "call-dispatcher", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                               "field": {"type": "string"}}}}},
            "CallRequest": {"type": "object", "required": ["to"], "additionalProperties": False,
                            "properties": {
                                "to": {"type": "string", "description": "phone number"},
                                "from": {"type": "string", "pattern": r"^\+?[0-9]{2,15}$"},
                                "timeout": {"type": "integer", "minimum": TIMEOUT_RANGE[0],
                                            "maximum": TIMEOUT_RANGE[1], "default": 30},
                                "variables": {"type": "object", "additionalProperties": {
                                    "type": "string", "pattern": r"^[A-Za-z0-9 _.:@+\-/]{0,128}$"}},
                                "metadata": {}}},
            "Call": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"},
                "to": {"type": "string"}, "from": {"type": ["string", "null"]},
                "status": {"enum": [s.value for s in CallStatus]},
                "outcome": {"type": ["string", "null"]},
                "hangup_cause": {"type": ["integer", "null"]},
                "hangup_cause_text": {"type": ["string", "null"]},
                "sip_code": {"type": ["integer", "null"]},
                "created_at": {"type": "string", "format": "date-time"},
                "dialed_at": {"type": ["string", "null"], "format": "date-time"},
                "answered_at": {"type": ["string", "null"], "format": "date-time"},
                "ended_at": {"type": ["string", "null"], "format": "date-time"},
                "duration": {"type": ["integer", "null"]},
                "ring_duration": {"type": ["integer", "null"]},
                "metadata": {}}},
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/healthz": {"get": {"security": [], "summary": "Process is alive",
                             "responses": {"200": {"description": "alive"}}}},
        "/readyz": {"get": {"security": [], "summary": "PostgreSQL, Redis and AMI reachable",
                            "responses": {"200": {"description": "ready"},
                                          "503": {"description": "not ready"}}}},
        "/v1/calls": {
            "post": {"summary": "Queue a call",
                     "parameters": [{"name": "Idempotency-Key", "in": "header",
                                     "schema": {"type": "string", "maxLength": 255}}],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/CallRequest"}}}},
                     "responses": {**_responses("202", _CALL, 400, 401, 409, 413, 415, 422),
                                   "200": {"description": "idempotent replay",
                                           "content": {"application/json": {"schema": _CALL}}}}},
            "get": {"summary": "List calls, newest first (keyset pagination)",
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": "string"}}
                        for n in ("status", "to", "created_after", "created_before", "cursor")
                    ] + [{"name": "limit", "in": "query",
                          "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
                    "responses": _responses("200", {"type": "object", "properties": {
                        "data": {"type": "array", "items": _CALL},
                        "next_cursor": {"type": ["string", "null"]}}}, 400, 401, 422)},
        },
        "/v1/calls/{call_id}": {"get": {"summary": "One call", "parameters": [_ID],
                                        "responses": _responses("200", _CALL, 401, 404)}},
        "/v1/calls/{call_id}/cancel": {"post": {
            "summary": "Cancel: a queued call is never dialled, a live one is hung up",
            "parameters": [_ID], "responses": {**_responses("200", _CALL, 401, 404, 409),
                                               "202": {"description": "hangup requested"}}}},
        "/v1/calls/{call_id}/events": {"get": {
            "summary": "AMI events recorded for the call, oldest first", "parameters": [_ID],
            "responses": _responses("200", {"type": "object"}, 401, 404)}},
    },
}


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(SPEC)
