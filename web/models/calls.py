"""The call endpoints' models: what a client sends to place calls and to list them, and what it
gets back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, RootModel, model_validator

from dispatcher.domain.call_requests import (
    DEFAULT_PRIORITY,
    MAX_BATCH_CALLS,
    CallRequest,
    RoutedNumber,
    route_number,
)
from dispatcher.domain.callbacks import DEFAULT_EVENTS
from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.status import CallStatus
from web.models.common import (
    CallbackEvents,
    CallbackUrl,
    CallerId,
    Metadata,
    NumberText,
    Priority,
    Request,
    Response,
    Timeout,
    Variables,
)
from web.models.queries import CampaignIdArg, Cursor, Limit, TimeArg, number_arg, status_arg
from web.models.rules import ApiContext, checked_with


def _route(value: object, api: ApiContext, _: dict[str, Any]) -> RoutedNumber:
    return route_number(value, api.policy, api.trunks)


class CallBody(Request):
    """One call. ``null`` for an optional field means its default."""

    to: Annotated[RoutedNumber, checked_with(_route, NumberText, nullable=False)]
    from_: CallerId = Field(default=None, alias="from",
                            description="caller ID; the deployment's default when absent")
    timeout: Timeout = 30
    priority: Priority = DEFAULT_PRIORITY
    variables: Variables = Field(default_factory=dict)
    metadata: Metadata = None
    status_callback: CallbackUrl = None
    status_callback_event: CallbackEvents = DEFAULT_EVENTS

    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"to": "09121234567", "timeout": 30, "variables": {"ORDER": "A-17"}}]}}

    def call_request(self, api: ApiContext) -> CallRequest:
        return CallRequest(
            to=self.to.e164, dial_string=self.to.dial_string, trunk=self.to.trunk,
            caller_id=api.caller_id(self.from_),
            timeout=self.timeout, priority=self.priority, variables=self.variables,
            metadata=self.metadata, status_callback=self.status_callback,
            callback_events=self.status_callback_event)


class CallBatch(RootModel[Annotated[list[CallBody], Field(min_length=1,
                                                           max_length=MAX_BATCH_CALLS)]]):
    """A batch: all of its calls are accepted or none."""

    @model_validator(mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        if isinstance(value, list) and not 1 <= len(value) <= MAX_BATCH_CALLS:
            raise ValidationFailed(f"a batch holds 1 to {MAX_BATCH_CALLS} calls")
        return value


class CallQuery(Request):
    """The filters of ``GET /v1/calls``."""

    status: Annotated[str | None, status_arg(CallStatus)] = None
    to: Annotated[str | None, number_arg()] = None
    created_after: TimeArg = None
    created_before: TimeArg = None
    campaign_id: CampaignIdArg = None
    cursor: Cursor = None
    limit: Limit = 50


NullableTime = datetime | None


class Call(Response):
    id: uuid.UUID
    to: str
    from_: str | None = Field(alias="from")
    status: CallStatus
    outcome: str | None
    hangup_cause: int | None
    hangup_cause_text: str | None
    sip_code: int | None
    timeout: int
    priority: int
    trunk: str
    variables: dict[str, str]
    created_at: datetime
    dialed_at: NullableTime
    answered_at: NullableTime
    ended_at: NullableTime
    duration: int | None = Field(description="seconds from answer to end")
    ring_duration: int | None
    cancel_requested: bool
    placed_by: uuid.UUID | None = Field(description="the API key that placed it")
    canceled_by: uuid.UUID | None
    error: str | None = Field(description="why the dispatcher could not dial it")
    metadata: Any
    campaign_id: uuid.UUID | None
    contact_id: int | None


class CallList(Response):
    data: list[Call]
    next_cursor: str | None


class CallBatchPlaced(Response):
    data: list[Call]


class Event(Response):
    name: str
    at: NullableTime
    received_at: NullableTime
    headers: dict[str, Any] = Field(description="the AMI event's headers as Asterisk sent them")


class EventList(Response):
    data: list[Event]


class CallbackDelivery(Response):
    sequence: int
    event: str
    event_id: uuid.UUID
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: NullableTime
    next_attempt_at: NullableTime


class CallbackDeliveryList(Response):
    data: list[CallbackDelivery]
