"""The do-not-call list parts of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from dispatcher.usecases.dnc_lists import MAX_BATCH as MAX_DNC_BATCH
from web.openapi_campaigns import LIMIT, LIST, LIST_NAME
from web.openapi_parts import NULLABLE_TIME, NUMBER, errors, page_of, responses, with_db

SCHEMAS: dict[str, Any] = {
    "DncList": {"type": "object", "required": ["name", "numbers"], "properties": {
        "name": {"type": "string"}, "description": {"type": ["string", "null"]},
        "numbers": {"type": "integer"}, "created_at": NULLABLE_TIME}},
}

PATHS: dict[str, Any] = {
    "/v1/dnc-lists": {
        "post": {"summary": "Create a do-not-call list",
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"type": "object", "required": ["name"],
                                "additionalProperties": False, "properties": {
                                    "name": {"type": "string", "pattern": LIST_NAME},
                                    "description": {"type": ["string", "null"],
                                                    "maxLength": 200}}}}}},
                 "responses": with_db(responses(
                     "201", {"$ref": "#/components/schemas/DncList"}, 400, 401, 409, 413,
                     415, 422))},
        "get": {"summary": "Do-not-call lists with their sizes",
                "responses": with_db(responses("200", {
                    "type": "object", "required": ["data"], "properties": {"data": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/DncList"}}}}, 401))}},
    "/v1/dnc-lists/{name}/numbers": {
        "post": {"summary": "Add numbers (stored in E.164)", "parameters": [LIST],
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"type": "object", "required": ["numbers"],
                                "additionalProperties": False, "properties": {
                                    "numbers": {"type": "array", "minItems": 1,
                                                "maxItems": MAX_DNC_BATCH,
                                                "items": {"type": "string",
                                                          "maxLength": 32}}}}}}},
                 "responses": with_db(responses("200", {
                     "type": "object", "required": ["added", "invalid"], "properties": {
                         "added": {"type": "integer"},
                         "invalid": {"type": "array", "items": {"type": "object"}}}},
                     400, 401, 404, 413, 415, 422))},
        "get": {"summary": "Numbers on a list; ?number= checks one",
                "parameters": [LIST, {"name": "number", "in": "query", "schema": NUMBER},
                               {"name": "cursor", "in": "query", "schema": {
                                   "type": "string", "pattern": r"^\+[0-9]{1,15}$"}},
                               LIMIT],
                "responses": with_db(responses("200", page_of({"type": "string"}), 400,
                                               401, 404, 422))}},
    "/v1/dnc-lists/{name}/numbers/{number}": {"delete": {
        "summary": "Take a number off a list",
        "parameters": [LIST, {"name": "number", "in": "path", "required": True,
                               "schema": {"type": "string"}}],
        "responses": with_db({"204": {"description": "removed"},
                               **errors(401, 404)})}},
}
