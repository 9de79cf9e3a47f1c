"""The campaign parts of the OpenAPI document (do-not-call lists: :mod:`web.openapi_dnc`)."""

from __future__ import annotations

from typing import Any

from dispatcher.domain.call_requests import DEFAULT_PRIORITY, MAX_VARIABLES, TIMEOUT_RANGE
from dispatcher.domain.call_windows import DAYS
from dispatcher.domain.callbacks import EVENTS as CALLBACK_EVENTS
from dispatcher.domain.campaign_rules import (
    MAX_ATTEMPTS_LIMIT,
    MAX_RETRY_DELAY,
    RETRYABLE,
    CampaignStatus,
    ContactState,
)
from web.openapi_parts import (
    ACTIVITY,
    NULLABLE_TIME,
    NUMBER,
    VARIABLE_NAME,
    VARIABLE_VALUE,
    csv_response,
    errors,
    page_of,
    responses,
    with_db,
)

LIST_NAME = r"^[A-Za-z0-9_.\-]{1,64}$"
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
LIST = {"name": "name", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": LIST_NAME}}
_CURSOR = {"name": "cursor", "in": "query", "schema": {"type": "string"}}
LIMIT = {"name": "limit", "in": "query",
          "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}


def _lifecycle(action: str, summary: str) -> dict[str, Any]:
    return {"post": {
        "summary": summary, "parameters": [_CID],
        "requestBody": {"required": False, "content": {"application/json": {
            "schema": {"type": "object", "description": "optional; no fields"}}}},
        "responses": with_db(responses("200", _CAMPAIGN, 400, 401, 404, 409, 413, 415,
                                       422))}}


NULLABLE_ID = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
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
                          "items": {"type": "string", "pattern": LIST_NAME}},
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
        "started_at": NULLABLE_TIME, "ended_at": NULLABLE_TIME,
        "contacts": {"type": "object", "required": ["total"],
                     "additionalProperties": {"type": "integer"}},
        "calls": {"type": "object", "additionalProperties": {"type": "integer"}},
        "outcomes": {"type": "object", "additionalProperties": {"type": "integer"}},
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "rate_per_minute": {"type": "number"},
        "eta_seconds": {"type": ["number", "null"]},
        "activity": {"$ref": "#/components/schemas/Activity"}}},
    "Activity": ACTIVITY,
    "Contact": {"type": "object", "required": ["id", "to", "state"], "properties": {
        "id": {"type": "integer"}, "line": {"type": "integer"}, "upload_id": NULLABLE_ID,
        "to": {"type": "string"}, "state": {"enum": [s.value for s in ContactState]},
        "outcome": {"type": ["string", "null"]}, "attempts": {"type": "integer"},
        "next_attempt_at": NULLABLE_TIME,
        "last_call_id": NULLABLE_ID, "last_attempt_at": NULLABLE_TIME,
        "timezone": {"type": ["string", "null"]},
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
    "Variables": {"type": "object", "maxProperties": MAX_VARIABLES,
                  "propertyNames": {"pattern": VARIABLE_NAME},
                  "additionalProperties": {"anyOf": [
                      {"type": "string", "pattern": VARIABLE_VALUE},
                      {"type": "number"}]}},
}

PATHS: dict[str, Any] = {
    "/v1/campaigns": {
        "post": {"summary": "Create a campaign (draft)",
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/CampaignRequest"}}}},
                 "responses": with_db(responses("201", _CAMPAIGN, 400, 401, 413, 415,
                                                422))},
        "get": {"summary": "List campaigns, newest first",
                "parameters": [{"name": "status", "in": "query",
                                "schema": {"enum": [s.value for s in CampaignStatus]}},
                               _CURSOR, LIMIT],
                "responses": with_db(responses("200", page_of(_CAMPAIGN), 400, 401,
                                               422))}},
    "/v1/campaigns/{campaign_id}": {
        "get": {"summary": "A campaign with its progress, counts and ETA",
                "parameters": [_CID],
                "responses": with_db(responses("200", _CAMPAIGN, 401, 404))},
        "patch": {"summary": "Change settings of a draft, running or paused campaign",
                  "parameters": [_CID],
                  "requestBody": {"required": True, "content": {"application/json": {
                      "schema": {"$ref": "#/components/schemas/CampaignUpdate"}}}},
                  "responses": with_db(responses("200", _CAMPAIGN, 400, 401, 404, 409,
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
                 "responses": with_db(responses(
                     "200", {"$ref": "#/components/schemas/Upload"}, 400, 401, 404, 409,
                     413, 415, 422))},
        "get": {"summary": "Contacts of a campaign (keyset pagination)",
                "parameters": [_CID,
                               {"name": "state", "in": "query",
                                "schema": {"enum": [s.value for s in ContactState]}},
                               {"name": "outcome", "in": "query",
                                "schema": {"type": "string", "maxLength": 32}},
                               {"name": "to", "in": "query", "schema": NUMBER},
                               _CURSOR, LIMIT],
                "responses": with_db(responses(
                    "200", page_of({"$ref": "#/components/schemas/Contact"}), 400, 401,
                    404, 422))}},
    "/v1/campaigns/{campaign_id}/history": {"get": {
        "summary": "Who created, changed, uploaded to, started, paused, resumed or "
                   "canceled the campaign, and when it completed",
        "parameters": [_CID],
        "responses": with_db(responses("200", {
            "type": "object", "required": ["data"], "properties": {"data": {
                "type": "array", "items": {"type": "object", "required": ["action", "at"],
                                           "properties": {
                                               "action": {"type": "string"},
                                               "at": {"type": "string"},
                                               "by": {"type": ["string", "null"]},
                                               "detail": {}}}}}}, 401, 404))}},
    "/v1/campaigns/{campaign_id}/callbacks": {"get": {
        "summary": "Lifecycle callbacks of the campaign (campaign.started, .paused, .resumed, "
                   ".canceled, .completed) and their deliveries, in sequence order",
        "parameters": [_CID],
        "responses": with_db(responses("200", {
            "type": "object", "required": ["data"], "properties": {
                "data": {"type": "array", "items": {"type": "object"}}}}, 401, 404))}},
    "/v1/campaigns/{campaign_id}/uploads": {"get": {
        "summary": "Uploads of a campaign with their counts", "parameters": [_CID],
        "responses": with_db(responses("200", {
            "type": "object", "required": ["data"], "properties": {"data": {
                "type": "array", "items": {"$ref": "#/components/schemas/Upload"}}}},
            401, 404))}},
    "/v1/campaigns/{campaign_id}/uploads/{upload_id}/rejects": {"get": {
        "summary": "Rejected rows of an upload as CSV (line, reason)",
        "parameters": [_CID, {"name": "upload_id", "in": "path", "required": True,
                              "schema": {"type": "string", "format": "uuid"}}],
        "responses": with_db({"200": csv_response("line,reason"),
                               **errors(401, 404)})}},
    "/v1/campaigns/{campaign_id}/export": {"get": {
        "summary": "Every contact with its attempts and final outcome, as CSV",
        "parameters": [_CID],
        "responses": with_db({"200": csv_response("streamed CSV"),
                               **errors(401, 404)})}},
}


def _nullable_optionals(schema: dict[str, Any]) -> None:
    """The campaign request takes ``null`` for any optional field (meaning: the default)."""
    required = set(schema.get("required", ()))
    for name, prop in schema["properties"].items():
        if name not in required:
            schema["properties"][name] = {"anyOf": [prop, {"type": "null"}]}


_nullable_optionals(SCHEMAS["CampaignRequest"])


def _update_schema() -> dict[str, Any]:
    """Any field of a new campaign but the trunk, at least one; ``name`` may not be null."""
    base = SCHEMAS["CampaignRequest"]
    properties = {k: v for k, v in base["properties"].items() if k != "trunk"}
    properties["name"] = base["properties"]["name"]
    return {"type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": properties}


SCHEMAS["CampaignUpdate"] = _update_schema()
