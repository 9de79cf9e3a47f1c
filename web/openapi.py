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
from dispatcher.call_windows import DAYS
from dispatcher.callbacks import EVENTS as CALLBACK_EVENTS
from dispatcher.campaign_rules import (
    MAX_ATTEMPTS_LIMIT,
    MAX_RETRY_DELAY,
    RETRYABLE,
    CampaignStatus,
    ContactState,
)
from dispatcher.campaigns import MAX_DNC_BATCH
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


_LIST_NAME = r"^[A-Za-z0-9_.\-]{1,64}$"
_RETRY = {"type": "object", "additionalProperties": False, "properties": {
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS_LIMIT},
    "delay": {"type": "integer", "minimum": 0, "maximum": MAX_RETRY_DELAY}}}
_WINDOW = {"type": "object", "additionalProperties": False, "required": ["days", "start", "end"],
           "properties": {
               "days": {"type": "array", "minItems": 1, "items": {"enum": list(DAYS)}},
               "start": {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"},
               "end": {"type": "string",
                       "pattern": r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"}}}
_IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                           "pattern": "^[\\x20-\\x7e]+$"}}
_CAMPAIGN = {"$ref": "#/components/schemas/Campaign"}
_CID = {"name": "campaign_id", "in": "path", "required": True,
        "schema": {"type": "string", "format": "uuid"}}
_LIST = {"name": "name", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": _LIST_NAME}}
_CURSOR = {"name": "cursor", "in": "query", "schema": {"type": "string"}}
_LIMIT = {"name": "limit", "in": "query",
          "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"description": "Error", **_ERROR_RESPONSE} for status in statuses}


def _page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["data", "next_cursor"], "properties": {
        "data": {"type": "array", "items": item},
        "next_cursor": {"type": ["string", "null"]}}}


def _csv_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"text/csv": {"schema": {"type": "string"}}}}


def _lifecycle(action: str, summary: str) -> dict[str, Any]:
    return {"post": {
        "summary": summary, "parameters": [_CID],
        "requestBody": {"required": False, "content": {"application/json": {
            "schema": {"type": "object", "description": "optional; no fields"}}}},
        "responses": _with_db(_responses("200", _CAMPAIGN, 400, 401, 404, 409, 413, 415,
                                         422))}}


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
                "metadata": {},
                "campaign_id": {"type": ["string", "null"], "format": "uuid"},
                "contact_id": {"type": ["integer", "null"]}}},
            "Event": {"type": "object", "required": ["name", "headers"], "properties": {
                "name": {"type": "string"}, "at": _NULLABLE_TIME, "received_at": _NULLABLE_TIME,
                "headers": {"type": "object"}}},
            "CampaignRequest": {
                "type": "object", "required": ["name"], "additionalProperties": False,
                "description": "null for an optional field means its default",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "trunk": {"type": "string", "maxLength": 64},
                    "caller_id": {"type": "string", "pattern": r"^\+?[0-9]{2,15}$"},
                    "max_lines": {"type": "integer", "minimum": 1,
                                  "description": "at most the trunk's lines (default)"},
                    "cps": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                    "timeout": {"type": "integer", "minimum": TIMEOUT_RANGE[0],
                                "maximum": TIMEOUT_RANGE[1], "default": 30},
                    "priority": {"type": "integer", "minimum": 0, "maximum": 9,
                                 "default": DEFAULT_PRIORITY},
                    "target": {"type": "object", "additionalProperties": False,
                               "required": ["context"], "properties": {
                                   "context": {"type": "string",
                                               "pattern": r"^[A-Za-z0-9_\-]{1,79}$"},
                                   "exten": {"type": "string",
                                             "pattern": r"^[A-Za-z0-9_+*#\-]{1,79}$"},
                                   "priority": {"type": "integer", "minimum": 1,
                                                "maximum": 999}}},
                    "variables": {"$ref": "#/components/schemas/Variables"},
                    "retry": {"type": "object", "additionalProperties": False,
                              "properties": {outcome: _RETRY for outcome in RETRYABLE}},
                    "windows": {"type": "array", "maxItems": 14, "items": _WINDOW},
                    "timezone": {"type": "string", "description": "IANA time zone",
                                 "default": "Asia/Tehran"},
                    "dnc_lists": {"type": "array", "maxItems": 16,
                                  "items": {"type": "string", "pattern": _LIST_NAME}},
                    "status_callback": {"type": "string", "format": "uri", "maxLength": 2000},
                    "status_callback_event": {
                        "type": "array", "minItems": 1, "uniqueItems": True,
                        "items": {"enum": list(CALLBACK_EVENTS)}}}},
            "Campaign": {"type": "object", "required": ["id", "name", "status", "contacts"],
                         "properties": {
                "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
                "status": {"enum": [s.value for s in CampaignStatus]},
                "trunk": {"type": "string"}, "max_lines": {"type": "integer"},
                "cps": {"type": ["number", "null"]},
                "retry": {"type": "object"}, "windows": {"type": "array"},
                "timezone": {"type": "string"},
                "dnc_lists": {"type": "array", "items": {"type": "string"}},
                "created_at": {"type": "string", "format": "date-time"},
                "created_by": {"type": ["string", "null"]},
                "started_at": _NULLABLE_TIME, "ended_at": _NULLABLE_TIME,
                "contacts": {"type": "object", "required": ["total"],
                             "additionalProperties": {"type": "integer"}},
                "calls": {"type": "object", "additionalProperties": {"type": "integer"}},
                "outcomes": {"type": "object", "additionalProperties": {"type": "integer"}},
                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                "rate_per_minute": {"type": "number"},
                "eta_seconds": {"type": ["number", "null"]}}},
            "Contact": {"type": "object", "required": ["id", "to", "state"], "properties": {
                "id": {"type": "integer"}, "line": {"type": "integer"},
                "to": {"type": "string"}, "state": {"enum": [s.value for s in ContactState]},
                "outcome": {"type": ["string", "null"]}, "attempts": {"type": "integer"},
                "next_attempt_at": _NULLABLE_TIME,
                "last_call_id": {"type": ["string", "null"]},
                "last_attempt_at": _NULLABLE_TIME, "timezone": {"type": ["string", "null"]},
                "variables": {"type": "object"}, "metadata": {}}},
            "Upload": {"type": "object",
                       "required": ["upload_id", "received", "accepted", "duplicates",
                                    "rejected", "rejects_url"],
                       "properties": {
                           "upload_id": {"type": "string", "format": "uuid"},
                           "received": {"type": "integer"}, "accepted": {"type": "integer"},
                           "duplicates": {"type": "integer"}, "rejected": {"type": "integer"},
                           "seconds": {"type": "number"}, "rejects_url": {"type": "string"},
                           "created_at": {"type": "string"}}},
            "DncList": {"type": "object", "required": ["name", "numbers"], "properties": {
                "name": {"type": "string"}, "description": {"type": ["string", "null"]},
                "numbers": {"type": "integer"}, "created_at": _NULLABLE_TIME}},
            "Variables": {"type": "object", "maxProperties": MAX_VARIABLES,
                          "propertyNames": {"pattern": _VARIABLE_NAME},
                          "additionalProperties": {"anyOf": [
                              {"type": "string", "pattern": _VARIABLE_VALUE},
                              {"type": "number"}]}},
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
                        {"name": "campaign_id", "in": "query",
                         "schema": {"type": "string", "format": "uuid"}},
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
        "/v1/campaigns": {
            "post": {"summary": "Create a campaign (draft)",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/CampaignRequest"}}}},
                     "responses": _with_db(_responses("201", _CAMPAIGN, 400, 401, 413, 415,
                                                      422))},
            "get": {"summary": "List campaigns, newest first",
                    "parameters": [{"name": "status", "in": "query",
                                    "schema": {"enum": [s.value for s in CampaignStatus]}},
                                   _CURSOR, _LIMIT],
                    "responses": _with_db(_responses("200", _page_of(_CAMPAIGN), 400, 401,
                                                     422))}},
        "/v1/campaigns/{campaign_id}": {
            "get": {"summary": "A campaign with its progress, counts and ETA",
                    "parameters": [_CID],
                    "responses": _with_db(_responses("200", _CAMPAIGN, 401, 404))},
            "patch": {"summary": "Change settings of a draft, running or paused campaign",
                      "parameters": [_CID],
                      "requestBody": {"required": True, "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/CampaignUpdate"}}}},
                      "responses": _with_db(_responses("200", _CAMPAIGN, 400, 401, 404, 409,
                                                       413, 415, 422))}},
        "/v1/campaigns/{campaign_id}/start": _lifecycle("start", "draft -> running"),
        "/v1/campaigns/{campaign_id}/pause": _lifecycle("pause", "running -> paused: no new "
                                                                 "dials; calls in progress end"),
        "/v1/campaigns/{campaign_id}/resume": _lifecycle("resume", "paused -> running"),
        "/v1/campaigns/{campaign_id}/cancel": _lifecycle("cancel", "never dial another "
                                                                   "contact"),
        "/v1/campaigns/{campaign_id}/contacts": {
            "post": {"summary": "Upload contacts (CSV with a header row, or JSON lines); one "
                                "chunk is stored atomically",
                     "parameters": [_CID, _IDEMPOTENCY, {"name": "line_offset", "in": "query",
                                                         "schema": {
                         "type": "integer", "minimum": 0, "maximum": 1_000_000_000,
                         "description": "added to line numbers in the reject report"}}],
                     "requestBody": {"required": True, "content": {
                         "text/csv": {"schema": {"type": "string"}},
                         "application/x-ndjson": {"schema": {"type": "string"}}}},
                     "responses": _with_db(_responses(
                         "200", {"$ref": "#/components/schemas/Upload"}, 400, 401, 404, 409,
                         413, 415, 422))},
            "get": {"summary": "Contacts of a campaign (keyset pagination)",
                    "parameters": [_CID,
                                   {"name": "state", "in": "query",
                                    "schema": {"enum": [s.value for s in ContactState]}},
                                   {"name": "outcome", "in": "query",
                                    "schema": {"type": "string", "maxLength": 32}},
                                   {"name": "to", "in": "query", "schema": _NUMBER},
                                   _CURSOR, _LIMIT],
                    "responses": _with_db(_responses(
                        "200", _page_of({"$ref": "#/components/schemas/Contact"}), 400, 401,
                        404, 422))}},
        "/v1/campaigns/{campaign_id}/history": {"get": {
            "summary": "Who created, changed, uploaded to, started, paused, resumed or "
                       "canceled the campaign, and when it completed",
            "parameters": [_CID],
            "responses": _with_db(_responses("200", {
                "type": "object", "required": ["data"], "properties": {"data": {
                    "type": "array", "items": {"type": "object", "required": ["action", "at"],
                                               "properties": {
                                                   "action": {"type": "string"},
                                                   "at": {"type": "string"},
                                                   "by": {"type": ["string", "null"]},
                                                   "detail": {}}}}}}, 401, 404))}},
        "/v1/campaigns/{campaign_id}/uploads": {"get": {
            "summary": "Uploads of a campaign with their counts", "parameters": [_CID],
            "responses": _with_db(_responses("200", {
                "type": "object", "required": ["data"], "properties": {"data": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Upload"}}}},
                401, 404))}},
        "/v1/campaigns/{campaign_id}/uploads/{upload_id}/rejects": {"get": {
            "summary": "Rejected rows of an upload as CSV (line, reason)",
            "parameters": [_CID, {"name": "upload_id", "in": "path", "required": True,
                                  "schema": {"type": "string", "format": "uuid"}}],
            "responses": _with_db({"200": _csv_response("line,reason"),
                                   **_errors(401, 404)})}},
        "/v1/campaigns/{campaign_id}/export": {"get": {
            "summary": "Every contact with its attempts and final outcome, as CSV",
            "parameters": [_CID],
            "responses": _with_db({"200": _csv_response("streamed CSV"),
                                   **_errors(401, 404)})}},
        "/v1/dnc-lists": {
            "post": {"summary": "Create a do-not-call list",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"type": "object", "required": ["name"],
                                    "additionalProperties": False, "properties": {
                                        "name": {"type": "string", "pattern": _LIST_NAME},
                                        "description": {"type": ["string", "null"],
                                                        "maxLength": 200}}}}}},
                     "responses": _with_db(_responses(
                         "201", {"$ref": "#/components/schemas/DncList"}, 400, 401, 409, 413,
                         415, 422))},
            "get": {"summary": "Do-not-call lists with their sizes",
                    "responses": _with_db(_responses("200", {
                        "type": "object", "required": ["data"], "properties": {"data": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/DncList"}}}}, 401))}},
        "/v1/dnc-lists/{name}/numbers": {
            "post": {"summary": "Add numbers (stored in E.164)", "parameters": [_LIST],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"type": "object", "required": ["numbers"],
                                    "additionalProperties": False, "properties": {
                                        "numbers": {"type": "array", "minItems": 1,
                                                    "maxItems": MAX_DNC_BATCH,
                                                    "items": {"type": "string",
                                                              "maxLength": 32}}}}}}},
                     "responses": _with_db(_responses("200", {
                         "type": "object", "required": ["added", "invalid"], "properties": {
                             "added": {"type": "integer"},
                             "invalid": {"type": "array", "items": {"type": "object"}}}},
                         400, 401, 404, 413, 415, 422))},
            "get": {"summary": "Numbers on a list; ?number= checks one",
                    "parameters": [_LIST, {"name": "number", "in": "query", "schema": _NUMBER},
                                   {"name": "cursor", "in": "query", "schema": {
                                       "type": "string", "pattern": r"^\+[0-9]{1,15}$"}},
                                   _LIMIT],
                    "responses": _with_db(_responses("200", _page_of({"type": "string"}), 400,
                                                     401, 404, 422))}},
        "/v1/dnc-lists/{name}/numbers/{number}": {"delete": {
            "summary": "Take a number off a list",
            "parameters": [_LIST, {"name": "number", "in": "path", "required": True,
                                   "schema": {"type": "string"}}],
            "responses": _with_db({"204": {"description": "removed"},
                                   **_errors(401, 404)})}},
        "/v1/trunks": {"get": {
            "summary": "Line use per trunk",
            "responses": _with_db(_responses("200", {
                "type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array",
                             "items": {"$ref": "#/components/schemas/Trunk"}}}}, 401))}},
    },
}


def _nullable_optionals(schema: dict[str, Any]) -> None:
    """The campaign request takes ``null`` for any optional field (meaning: the default)."""
    required = set(schema.get("required", ()))
    for name, prop in schema["properties"].items():
        if name not in required:
            schema["properties"][name] = {"anyOf": [prop, {"type": "null"}]}


_nullable_optionals(SPEC["components"]["schemas"]["CampaignRequest"])


def _update_schema() -> dict[str, Any]:
    """Any field of a new campaign but the trunk, at least one; ``name`` may not be null."""
    base = SPEC["components"]["schemas"]["CampaignRequest"]
    properties = {k: v for k, v in base["properties"].items() if k != "trunk"}
    properties["name"] = base["properties"]["name"]
    return {"type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": properties}


SPEC["components"]["schemas"]["CampaignUpdate"] = _update_schema()


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(SPEC)
