"""Fields shared by several API models, and the error body every endpoint answers with.

Each ``*Text``/``*In`` type is what the document shows a client for a field; the rule beside it
in the ``Annotated`` field is what the server actually enforces (:mod:`web.models.rules`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatcher.domain.call_requests import (
    MAX_IDEMPOTENCY_KEY,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_VARIABLES,
    TIMEOUT_RANGE,
    VARIABLE_NAME,
    VARIABLE_VALUE,
    parse_callback_events,
    parse_callback_url,
    parse_caller,
    parse_metadata,
    parse_priority,
    parse_timeout,
    parse_variables,
)
from dispatcher.domain.callbacks import EVENTS
from web.models.rules import ApiContext, checked, checked_with

# What a phone number may look like; whether it is a valid, allowed number is decided by the
# number rules (422), which JSON Schema cannot express.
NumberText = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9+()\-. ]+$",
                                  description="phone number")]
CallerIdText = Annotated[str, Field(pattern=r"^\+?[0-9]{2,15}$")]
TimeoutIn = Annotated[int, Field(ge=TIMEOUT_RANGE[0], le=TIMEOUT_RANGE[1],
                                 description="seconds to ring")]
PriorityIn = Annotated[int, Field(ge=0, le=9, description="0 (lowest) to 9 (highest)")]
VariablesIn = Annotated[
    dict[Annotated[str, Field(pattern=VARIABLE_NAME.pattern)],
         Annotated[str, Field(pattern=VARIABLE_VALUE.pattern)] | float],
    Field(max_length=MAX_VARIABLES,
          description="channel variables; names the dialplan or Asterisk reads are refused")]
MetadataIn = Annotated[Any, Field(description=(
    f"any JSON, stored, never sent to the PBX; at most {MAX_METADATA_BYTES} bytes and "
    f"{MAX_METADATA_DEPTH} levels deep"))]
CallbackUrlText = Annotated[str, Field(max_length=2000, json_schema_extra={"format": "uri"},
                                       description="http(s) URL for signed status callbacks; "
                                                   "public addresses only unless allowed")]
IdempotencyKeyText = Annotated[str, Field(
    min_length=1, max_length=MAX_IDEMPOTENCY_KEY, pattern="^[\\x20-\\x7e]+$",
    description="a repeat with the same body answers with the first result")]
CallbackEventsIn = Annotated[list[Literal[EVENTS]],  # type: ignore[valid-type]
                             Field(min_length=1, description="which state changes are sent; "
                                                             "a repeat is ignored")]


def _caller(value: object, _: ApiContext, __: dict[str, Any]) -> str | None:
    return parse_caller(value)


def _campaign_caller(value: object, _: ApiContext, __: dict[str, Any]) -> str | None:
    return parse_caller(value, "caller_id")


def _callback_url(value: object, api: ApiContext, _: dict[str, Any]) -> str | None:
    return parse_callback_url(value, api.allow_private_callbacks)


Timeout = Annotated[int, checked(parse_timeout, TimeoutIn)]
Priority = Annotated[int, checked(parse_priority, PriorityIn)]
Variables = Annotated[dict[str, str], checked(parse_variables, VariablesIn)]
Metadata = Annotated[Any, checked(parse_metadata, MetadataIn)]
CallerId = Annotated[str | None, checked_with(_caller, CallerIdText, nullable=True)]
CampaignCallerId = Annotated[str | None, checked_with(_campaign_caller, CallerIdText,
                                                                  nullable=True)]
CallbackUrl = Annotated[str | None, checked_with(_callback_url, CallbackUrlText,
                                                          nullable=True)]
CallbackEvents = Annotated[tuple[str, ...], checked(parse_callback_events, CallbackEventsIn)]


class Request(BaseModel):
    """A request body or query: unknown names are refused (a misspelt option would otherwise
    be silently ignored), and fields hold domain values."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True,
                              populate_by_name=False)


class Response(BaseModel):
    """A resource as the API sends it; the views serialise rows directly, and the tests hold
    what they send to these models."""


class ErrorDetail(Response):
    code: str = Field(examples=["validation-failed"])
    message: str = Field(examples=["timeout must be between 5 and 120"])
    field: str | None = Field(default=None, examples=["[3].to"],
                              description="where in the request the problem is")


class Error(Response):
    error: ErrorDetail


class Acknowledged(Request):
    """The body of an action that takes no fields yet: none at all, or ``{}``."""
