"""``/openapi.json``: a hand-written OpenAPI 3.1 description of every endpoint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from dispatcher.domain.call_requests import (
    DEFAULT_PRIORITY,
    MAX_BATCH_CALLS,
    MAX_BATCH_IDEMPOTENCY_KEY,
    MAX_IDEMPOTENCY_KEY,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_VARIABLES,
    TIMEOUT_RANGE,
)
from dispatcher.domain.callbacks import EVENTS as CALLBACK_EVENTS
from dispatcher.domain.status import CallStatus
from web import openapi_campaigns, openapi_dnc
from web.openapi_parts import (
    CALL,
    CALL_ID_PARAM,
    NULLABLE_TIME,
    NUMBER,
    READY,
    VARIABLE_NAME,
    VARIABLE_VALUE,
    errors,
    responses,
    with_db,
)

bp = Blueprint("openapi", __name__)
CALL_OR_BATCH = {"oneOf": [CALL, {
    "type": "object", "required": ["data"], "additionalProperties": False,
    "properties": {"data": {"type": "array", "items": CALL}}}]}

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
                                "to": {**NUMBER, "description": "phone number"},
                                "from": {"type": "string", "pattern": r"^\+?[0-9]{2,15}$"},
                                "timeout": {"type": "integer", "minimum": TIMEOUT_RANGE[0],
                                            "maximum": TIMEOUT_RANGE[1], "default": 30},
                                "priority": {"type": "integer", "minimum": 0, "maximum": 9,
                                             "default": DEFAULT_PRIORITY},
                                "variables": {
                                    "type": "object", "maxProperties": MAX_VARIABLES,
                                    "propertyNames": {"pattern": VARIABLE_NAME},
                                    "additionalProperties": {"anyOf": [
                                        {"type": "string", "pattern": VARIABLE_VALUE},
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
                "dialed_at": NULLABLE_TIME,
                "answered_at": NULLABLE_TIME,
                "ended_at": NULLABLE_TIME,
                "duration": {"type": ["integer", "null"]},
                "ring_duration": {"type": ["integer", "null"]},
                "cancel_requested": {"type": "boolean"},
                "error": {"type": ["string", "null"]},
                "metadata": {},
                "campaign_id": {"type": ["string", "null"], "format": "uuid"},
                "contact_id": {"type": ["integer", "null"]}}},
            "Event": {"type": "object", "required": ["name", "headers"], "properties": {
                "name": {"type": "string"}, "at": NULLABLE_TIME, "received_at": NULLABLE_TIME,
                "headers": {"type": "object"}}},
            "Trunk": {"type": "object", "required": ["name", "lines_total"], "properties": {
                "name": {"type": "string"}, "queue": {"type": "string"},
                "lines_total": {"type": "integer"}, "lines_in_use": {"type": "integer"},
                "lines_in_use_by_others": {"type": "integer"},
                "calls_waiting": {"type": "integer"},
                "oldest_waiting_seconds": {"type": ["number", "null"]},
                "calls_per_second_last_minute": {"type": "number"},
                "cps_limit": {"type": ["number", "null"]},
                "paused": {"type": "boolean", "description": "no calls are admitted while "
                           "paused (`dispatcher trunk pause|resume NAME`)"},
                "lines_limit": {"type": ["integer", "null"], "description": "at most this "
                                "many of `lines_total` are used when an operator set it "
                                "(`dispatcher trunk limit NAME N|off`); null: all"},
                "watched": {"type": "boolean", "description": "an event consumer sees this "
                            "trunk's PBX; while none has for DISPATCHER_UNWATCHED_PAUSE "
                            "seconds, no calls are admitted (nothing is dialled whose end "
                            "no one would see)"},
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
                                              "application/json": {"schema": READY}}},
                                          "503": {"description": "not ready", "content": {
                                              "application/json": {"schema": READY}}}}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics (scope calls:read)",
            "description": "Calls by status and outcome, originate latency, consumer lag, "
                           "lines in use and waiting per trunk, campaigns and their contacts.",
            "responses": {"200": {"description": "Prometheus text format 0.0.4", "content": {
                "text/plain": {"schema": {"type": "string"}}}}, **errors(401, 403)}}},
        "/v1/calls": {
            "post": {"summary": "Queue a call, or a batch of calls",
                     "description": (
                         "A JSON object queues one call and answers with it. A JSON array "
                         f"of 1 to {MAX_BATCH_CALLS} of them is a batch: all are accepted "
                         "or none (a 422 names the first bad one as `[index].field`), they "
                         "wait in line in the order sent, and the answer is "
                         "`{\"data\": [call, ...]}` in that order. A batch's "
                         "Idempotency-Key covers the whole batch (at most "
                         f"{MAX_BATCH_IDEMPOTENCY_KEY} "
                         "characters; call i is stored under `<key>#<i>`)."),
                     "parameters": [{"name": "Idempotency-Key", "in": "header",
                                     "schema": {"type": "string", "minLength": 1,
                                                "maxLength": MAX_IDEMPOTENCY_KEY,
                                                "pattern": "^[\\x20-\\x7e]+$"}}],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"oneOf": [
                             {"$ref": "#/components/schemas/CallRequest"},
                             {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_CALLS,
                              "items": {"$ref": "#/components/schemas/CallRequest"}}]}}}},
                     "responses": with_db({
                         **responses("202", CALL_OR_BATCH, 400, 401, 409, 413, 415, 422),
                         "200": {"description": "idempotent replay", "content": {
                             "application/json": {"schema": CALL_OR_BATCH}}}})},
            "get": {"summary": "List calls, newest first (keyset pagination)",
                    "parameters": [
                        {"name": "status", "in": "query",
                         "schema": {"enum": [s.value for s in CallStatus]}},
                        {"name": "to", "in": "query", "schema": NUMBER},
                        {"name": "created_after", "in": "query",
                         "schema": {"type": "string", "format": "date-time"}},
                        {"name": "created_before", "in": "query",
                         "schema": {"type": "string", "format": "date-time"}},
                        {"name": "campaign_id", "in": "query",
                         "schema": {"type": "string", "format": "uuid"}},
                        {"name": "cursor", "in": "query",
                         "schema": {"type": "string", "description": "next_cursor of the "
                                    "previous page; anything else is a 400"}},
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                                    "default": 50}},
                    ],
                    "responses": with_db(responses("200", {
                        "type": "object", "required": ["data", "next_cursor"], "properties": {
                            "data": {"type": "array", "items": CALL},
                            "next_cursor": {"type": ["string", "null"]}}}, 400, 401, 422))},
        },
        "/v1/calls/{call_id}": {"get": {
            "summary": "One call", "parameters": [CALL_ID_PARAM],
            "responses": with_db(responses("200", CALL, 401, 404))}},
        "/v1/calls/{call_id}/cancel": {"post": {
            "summary": "Cancel: a queued call is never dialled, a live one is hung up",
            "parameters": [CALL_ID_PARAM],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"type": "object", "description": "optional; no fields yet"}}}},
            "responses": with_db({
                **responses("200", CALL, 400, 401, 404, 409, 413, 415, 422),
                "202": {"description": "hangup requested",
                        "content": {"application/json": {"schema": CALL}}}})}},
        "/v1/calls/{call_id}/events": {"get": {
            "summary": "AMI events recorded for the call, oldest first",
            "parameters": [CALL_ID_PARAM],
            "responses": with_db(responses("200", {
                "type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array",
                             "items": {"$ref": "#/components/schemas/Event"}}}}, 401, 404))}},
        "/v1/calls/{call_id}/callbacks": {"get": {
            "summary": "Status-callback deliveries of the call, in sequence order",
            "parameters": [CALL_ID_PARAM],
            "responses": with_db(responses("200", {
                "type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array", "items": {"type": "object"}}}}, 401, 404))}},
        "/v1/trunks": {"get": {
            "summary": "Line use per trunk",
            "responses": with_db(responses("200", {
                "type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array",
                             "items": {"$ref": "#/components/schemas/Trunk"}}}}, 401))}},
    },
}


SPEC["components"]["schemas"].update(openapi_campaigns.SCHEMAS)
SPEC["paths"].update(openapi_campaigns.PATHS)
SPEC["components"]["schemas"].update(openapi_dnc.SCHEMAS)
SPEC["paths"].update(openapi_dnc.PATHS)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(SPEC)
