"""``/openapi.json``: every endpoint, generated from the models the views validate with."""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from dispatcher.domain.call_requests import MAX_BATCH_CALLS, MAX_BATCH_IDEMPOTENCY_KEY
from web.models.calls import (
    Call,
    CallbackDeliveryList,
    CallBatch,
    CallBatchPlaced,
    CallBody,
    CallList,
    CallQuery,
    EventList,
)
from web.models.common import Acknowledged
from web.models.system import Alive, Ready, Trunks
from web.openapi_build import IDEMPOTENCY_KEY, Operation, build_document
from web.openapi_campaigns import CAMPAIGN_OPERATIONS

bp = Blueprint("openapi", __name__)
WRITE = (400, 413, 415, 422)  # what any JSON body can meet

CALL_OPERATIONS = [
    Operation("get", "/healthz", "Process is alive", Alive, public=True),
    Operation("get", "/readyz", "PostgreSQL, Redis and AMI reachable", Ready, public=True,
              also={503: ("not ready", Ready)}),
    Operation("get", "/metrics", "Prometheus metrics (scope calls:read)", "text/plain",
              description="Calls by status and outcome, originate latency, consumer lag, "
                          "lines in use and waiting per trunk, campaigns and their contacts. "
                          "Prometheus text format 0.0.4."),
    Operation(
        "post", "/v1/calls", "Queue a call, or a batch of calls", (Call, CallBatchPlaced),
        status=202, errors=(*WRITE, 409), body=(CallBody, CallBatch),
        headers=(IDEMPOTENCY_KEY,), also={200: ("idempotent replay", (Call, CallBatchPlaced))},
        description=(
            "A JSON object queues one call and answers with it. A JSON array of 1 to "
            f"{MAX_BATCH_CALLS} of them is a batch: all are accepted or none (a 422 names the "
            "first bad one as `[index].field`), they wait in line in the order sent, and the "
            "answer is `{\"data\": [call, ...]}` in that order. A batch's Idempotency-Key "
            f"covers the whole batch (at most {MAX_BATCH_IDEMPOTENCY_KEY} characters; call i "
            "is stored under `<key>#<i>`).")),
    Operation("get", "/v1/calls", "List calls, newest first (keyset pagination)", CallList,
              errors=(400, 422), query=CallQuery),
    Operation("get", "/v1/calls/{call_id}", "One call", Call, errors=(404,)),
    Operation("post", "/v1/calls/{call_id}/cancel",
              "Cancel: a queued call is never dialled, a live one is hung up", Call,
              errors=(*WRITE, 404, 409), body=Acknowledged, body_required=False,
              also={202: ("hangup requested", Call)}),
    Operation("get", "/v1/calls/{call_id}/events",
              "AMI events recorded for the call, oldest first", EventList, errors=(404,)),
    Operation("get", "/v1/calls/{call_id}/callbacks",
              "Status-callback deliveries of the call, in sequence order",
              CallbackDeliveryList, errors=(404,)),
    Operation("get", "/v1/trunks", "Line use per trunk", Trunks),
]


@cache
def document() -> dict[str, Any]:
    return build_document(CALL_OPERATIONS + CAMPAIGN_OPERATIONS,
                          {"title": "call-dispatcher", "version": "1"})


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(document())
