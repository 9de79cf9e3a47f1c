"""``/openapi.json``: a hand-written OpenAPI 3.1 description of every endpoint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from dispatcher.call_requests import (
    DEFAULT_PRIORITY,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_VARIABLES,
    TIMEOUT_RANGE,
)
from dispatcher.callbacks import EVENTS as CALLBACK_EVENTS
from dispatcher.status import CallStatus

bp = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}
_CALL = {"$ref": "#/components/schemas/Call"}
_READY = {"type": "object", "required": ["status", "checks"], "properties": {
    "status": {"enum": ["ready", "not-ready"]},
    "checks": {"type": "object", "additionalProperties": {"type": "string"}}}}


def _responses(ok: str, schema: dict[str, Any], *errors: int) -> dict[str, Any]:
    result: dict[str, Any] = {ok: {"description": "OK",
                                   "content": {"application/json": {"schema": schema}}}}
    for status in errors:
        result[str(status)] = {"description": "Error",
                               "content": {"application/json": {"schema": _ERROR}}}
    return result


_ID = {"name": "call_id", "in": "path", "required": True,
       "schema": {"type": "string", "format": "uuid"}}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_DB_DOWN = {"description": "PostgreSQL is unavailable; retry after `Retry-After` seconds",
            "headers": {"Retry-After": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": _ERROR}}}
_VARIABLE_NAME = r"^(?!_*CALL_ID$)[A-Za-z_][A-Za-z0-9_]{0,63}$"
_VARIABLE_VALUE = r"^[A-Za-z0-9 _.:@+\-/]{0,128}$"
# What a phone number may look like; whether it is a valid, allowed number is decided by the
# number rules (422), which JSON Schema cannot express.
_NUMBER = {"type": "string", "minLength": 1, "maxLength": 32, "pattern": r"^[0-9+()\-. ]+$"}


_ERROR_RESPONSE = {"content": {"application/json": {"schema": {"$ref":
                                                               "#/components/schemas/Error"}}}}


def _with_db(responses: dict[str, Any]) -> dict[str, Any]:
    """Every /v1 operation can also meet a missing scope, a per-key limit, or a database
    outage."""
    return {**responses, "503": _DB_DOWN,
            "403": {"description": "the API key lacks the scope", **_ERROR_RESPONSE},
            "429": {"description": "per-key rate or concurrent-call limit; see Retry-After",
                    **_ERROR_RESPONSE}}


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
                                "to": {**_NUMBER, "description": "phone number"},
                                "from": {"type": "string", "pattern": r"^\+?[0-9]{2,15}$"},
                                "timeout": {"type": "integer", "minimum": TIMEOUT_RANGE[0],
                                            "maximum": TIMEOUT_RANGE[1], "default": 30},
                                "priority": {"type": "integer", "minimum": 0, "maximum": 9,
                                             "default": DEFAULT_PRIORITY},
                                "variables": {
                                    "type": "object", "maxProperties": MAX_VARIABLES,
                                    "propertyNames": {"pattern": _VARIABLE_NAME},
                                    "additionalProperties": {"anyOf": [
                                        {"type": "string", "pattern": _VARIABLE_VALUE},
                                        {"type": "number"}]}},
                                "metadata": {"description": "any JSON, stored, never sent to "
                                             f"the PBX; at most {MAX_METADATA_BYTES} bytes "
                                             f"and {MAX_METADATA_DEPTH} levels deep"},
                                "status_callback": {
                                    "type": "string", "format": "uri", "maxLength": 2000,
                                    "description": "http(s) URL for signed status callbacks; "
                                                   "public addresses only unless allowed"},
                                "status_callback_event": {
                                    "type": "array", "minItems": 1, "uniqueItems": True,
                                    "items": {"enum": list(CALLBACK_EVENTS)},
                                    "default": ["completed"]}}},
            "Call": {"type": "object", "required": ["id", "to", "status", "created_at"],
                     "properties": {
                "id": {"type": "string", "format": "uuid"},
                "to": {"type": "string"}, "from": {"type": ["string", "null"]},
                "status": {"enum": [s.value for s in CallStatus]},
                "outcome": {"type": ["string", "null"]},
                "hangup_cause": {"type": ["integer", "null"]},
                "hangup_cause_text": {"type": ["string", "null"]},
                "sip_code": {"type": ["integer", "null"]},
                "timeout": {"type": "integer"},
                "priority": {"type": "integer"},
                "trunk": {"type": "string"},
                "variables": {"type": "object", "additionalProperties": {"type": "string"}},
                "created_at": {"type": "string", "format": "date-time"},
                "dialed_at": _NULLABLE_TIME,
                "answered_at": _NULLABLE_TIME,
                "ended_at": _NULLABLE_TIME,
                "duration": {"type": ["integer", "null"]},
                "ring_duration": {"type": ["integer", "null"]},
                "cancel_requested": {"type": "boolean"},
                "error": {"type": ["string", "null"]},
                "metadata": {}}},
            "Event": {"type": "object", "required": ["name", "headers"], "properties": {
                "name": {"type": "string"}, "at": _NULLABLE_TIME, "received_at": _NULLABLE_TIME,
                "headers": {"type": "object"}}},
            "Trunk": {"type": "object", "required": ["name", "lines_total"], "properties": {
                "name": {"type": "string"}, "queue": {"type": "string"},
                "lines_total": {"type": "integer"}, "lines_in_use": {"type": "integer"},
                "lines_in_use_by_others": {"type": "integer"},
                "calls_waiting": {"type": "integer"},
                "oldest_waiting_seconds": {"type": ["number", "null"]},
                "calls_per_second_last_minute": {"type": "number"},
                "cps_limit": {"type": ["number", "null"]},
                "prefixes": {"type": "array", "items": {"type": "string"}},
                "ami": {"type": "string"}}},
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/healthz": {"get": {"security": [], "summary": "Process is alive",
                             "responses": {"200": {"description": "alive", "content": {
                                 "application/json": {"schema": {"type": "object"}}}}}}},
        "/readyz": {"get": {"security": [], "summary": "PostgreSQL, Redis and AMI reachable",
                            "responses": {"200": {"description": "ready", "content": {
                                              "application/json": {"schema": _READY}}},
                                          "503": {"description": "not ready", "content": {
                                              "application/json": {"schema": _READY}}}}}},
        "/v1/calls": {
            "post": {"summary": "Queue a call",
                     "parameters": [{"name": "Idempotency-Key", "in": "header",
                                     "schema": {"type": "string", "minLength": 1,
                                                "maxLength": 255,
                                                "pattern": "^[\\x20-\\x7e]+$"}}],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/CallRequest"}}}},
                     "responses": _with_db({
                         **_responses("202", _CALL, 400, 401, 409, 413, 415, 422),
                         "200": {"description": "idempotent replay",
                                 "content": {"application/json": {"schema": _CALL}}}})},
            "get": {"summary": "List calls, newest first (keyset pagination)",
                    "parameters": [
                        {"name": "status", "in": "query",
                         "schema": {"enum": [s.value for s in CallStatus]}},
                        {"name": "to", "in": "query", "schema": _NUMBER},
                        {"name": "created_after", "in": "query",
                         "schema": {"type": "string", "format": "date-time"}},
                        {"name": "created_before", "in": "query",
                         "schema": {"type": "string", "format": "date-time"}},
                        {"name": "cursor", "in": "query",
                         "schema": {"type": "string", "description": "next_cursor of the "
                                    "previous page; anything else is a 400"}},
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                                    "default": 50}},
                    ],
                    "responses": _with_db(_responses("200", {
                        "type": "object", "required": ["data", "next_cursor"], "properties": {
                            "data": {"type": "array", "items": _CALL},
                            "next_cursor": {"type": ["string", "null"]}}}, 400, 401, 422))},
        },
        "/v1/calls/{call_id}": {"get": {
            "summary": "One call", "parameters": [_ID],
            "responses": _with_db(_responses("200", _CALL, 401, 404))}},
        "/v1/calls/{call_id}/cancel": {"post": {
            "summary": "Cancel: a queued call is never dialled, a live one is hung up",
            "parameters": [_ID],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"type": "object", "description": "optional; no fields yet"}}}},
            "responses": _with_db({
                **_responses("200", _CALL, 400, 401, 404, 409, 413, 415, 422),
                "202": {"description": "hangup requested",
                        "content": {"application/json": {"schema": _CALL}}}})}},
        "/v1/calls/{call_id}/events": {"get": {
            "summary": "AMI events recorded for the call, oldest first", "parameters": [_ID],
            "responses": _with_db(_responses("200", {
                "type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array",
                             "items": {"$ref": "#/components/schemas/Event"}}}}, 401, 404))}},
        "/v1/calls/{call_id}/callbacks": {"get": {
            "summary": "Status-callback deliveries of the call, in sequence order",
            "parameters": [_ID],
            "responses": _with_db(_responses("200", {
                "type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array", "items": {"type": "object"}}}}, 401, 404))}},
        "/v1/trunks": {"get": {
            "summary": "Line use per trunk",
            "responses": _with_db(_responses("200", {
                "type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array",
                             "items": {"$ref": "#/components/schemas/Trunk"}}}}, 401))}},
    },
}


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(SPEC)
