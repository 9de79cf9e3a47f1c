"""The campaign endpoints' request models: a new campaign, a change to one, and the queries of
its lists. What the campaign endpoints send back is in :mod:`web.models.campaign_views`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from dispatcher.domain.call_requests import DEFAULT_PRIORITY
from dispatcher.domain.call_windows import DAYS, DEFAULT_TIMEZONE, Windows, parse_windows
from dispatcher.domain.callbacks import DEFAULT_EVENTS
from dispatcher.domain.campaign_requests import (
    DIALPLAN_NAME,
    EXTENSION,
    LIST_NAME,
    MAX_CPS,
    MAX_DNC_LISTS,
    CampaignSpec,
    parse_cps,
    parse_dnc_lists,
    parse_max_lines,
    parse_name,
    parse_target,
    parse_timezone,
    parse_trunk,
)
from dispatcher.domain.campaign_rules import (
    MAX_ATTEMPTS_LIMIT,
    MAX_RETRY_DELAY,
    RETRYABLE,
    CampaignStatus,
    ContactState,
    RetryPolicy,
    parse_retry,
)
from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.trunks import Trunk
from web.models.common import (
    CallbackEvents,
    CallbackUrl,
    CampaignCallerId,
    Priority,
    Request,
    Timeout,
    Variables,
)
from web.models.queries import Cursor, Limit, number_arg, status_arg
from web.models.refusals import validated
from web.models.rules import ApiContext, checked, checked_as, checked_with

ListName = Annotated[str, Field(pattern=LIST_NAME.pattern)]
NameIn = Annotated[str, Field(min_length=1, max_length=200)]
TrunkIn = Annotated[str, Field(max_length=64, description="a name from GET /v1/trunks; "
                                                          "the default trunk when absent")]
MaxLinesIn = Annotated[int, Field(ge=1, description="at most the trunk's lines (default)")]
CpsIn = Annotated[float, Field(gt=0, le=MAX_CPS, description="new calls per second at most")]
TimezoneIn = Annotated[str, Field(description="IANA time zone", examples=[DEFAULT_TIMEZONE])]
DncListsIn = Annotated[list[ListName], Field(max_length=MAX_DNC_LISTS)]
Clock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class TargetIn(Request):
    """Where answered calls go: a context, extension and priority of the dialplan, nothing
    else (no applications)."""

    context: Annotated[str, Field(pattern=DIALPLAN_NAME.pattern)]
    exten: Annotated[str, Field(pattern=EXTENSION.pattern)] = "s"
    priority: Annotated[int, Field(ge=1, le=999)] = 1


class RetryIn(Request):
    max_attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS_LIMIT,
                                       description="attempts in all, the first included")] = 1
    delay: Annotated[int, Field(ge=0, le=MAX_RETRY_DELAY, description="seconds")] = 300


class WindowIn(Request):
    days: Annotated[list[Literal[DAYS]], Field(min_length=1)]  # type: ignore[valid-type]
    start: Clock
    end: Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]


def _trunk(value: object, api: ApiContext, _: dict[str, Any]) -> Trunk:
    if api.trunks is None:
        raise TypeError("a campaign is checked against the trunk table")
    return parse_trunk(value, api.trunks)


def _max_lines(value: object, api: ApiContext, earlier: dict[str, Any]) -> int | None:
    """Bounded by the lines of the trunk chosen above it (or the default trunk's)."""
    trunk = earlier.get("trunk") or (api.trunks.default if api.trunks else None)
    return parse_max_lines(value, trunk.lines if trunk else None)


Name = Annotated[str, checked(parse_name, NameIn)]
Cps = Annotated[float | None, checked(parse_cps, CpsIn)]
Target = Annotated[dict[str, Any] | None, checked(parse_target, TargetIn)]
RetryRulesIn = dict[Literal[RETRYABLE], RetryIn]  # type: ignore[valid-type]
Retry = Annotated[RetryPolicy, checked(parse_retry, RetryRulesIn)]
WindowList = Annotated[Windows, checked(parse_windows,
                                        Annotated[list[WindowIn], Field(max_length=14)])]
Timezone = Annotated[str, checked(parse_timezone, TimezoneIn)]
DncLists = Annotated[tuple[str, ...], checked(parse_dnc_lists, DncListsIn)]


class CampaignSettings(Request):
    """What a new campaign and a change to one share: every setting but the name, the trunk
    and the line count. ``null`` for an optional field means its default."""

    caller_id: CampaignCallerId = None
    cps: Cps = None
    timeout: Timeout = 30
    priority: Priority = DEFAULT_PRIORITY
    target: Target = None
    variables: Variables = Field(default_factory=dict)
    retry: Retry = Field(default_factory=RetryPolicy)
    windows: WindowList = Field(default_factory=Windows)
    timezone: Timezone = DEFAULT_TIMEZONE
    dnc_lists: DncLists = ()
    status_callback: CallbackUrl = None
    status_callback_event: CallbackEvents = DEFAULT_EVENTS


class CampaignBody(CampaignSettings):
    """A new campaign, created as a draft. ``null`` for an optional field means its default."""

    name: Name
    trunk: Annotated[Trunk, checked_with(_trunk, TrunkIn, nullable=True)] = Field(
        default=None, validate_default=True)
    # After the trunk: its rule reads the trunk's lines.
    max_lines: Annotated[int, checked_with(_max_lines, MaxLinesIn, nullable=True)] = Field(
        default=None, validate_default=True)

    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"name": "renewals", "max_lines": 20, "retry": {"busy": {"max_attempts": 3,
                                                                 "delay": 600}},
         "windows": [{"days": ["sat", "sun", "mon", "tue", "wed"], "start": "09:00",
                      "end": "18:00"}]}]}}

    def spec(self, api: ApiContext) -> CampaignSpec:
        return CampaignSpec(
            name=self.name, trunk=self.trunk.name, max_lines=self.max_lines,
            caller_id=api.caller_id(self.caller_id),
            cps=self.cps, timeout=self.timeout, priority=self.priority, target=self.target,
            variables=self.variables, retry=self.retry, windows=self.windows,
            timezone=self.timezone, dnc_lists=self.dnc_lists,
            status_callback=self.status_callback, callback_events=self.status_callback_event)


class CampaignPatch(CampaignSettings):
    """Any field of a new campaign but the trunk, at least one. ``max_lines`` is bounded by the
    campaign's trunk when the change is applied."""

    name: Annotated[str | None, checked(parse_name, NameIn)] = None  # null is refused
    max_lines: Annotated[int | None, checked(lambda v: parse_max_lines(v, None),
                                             MaxLinesIn)] = None

    model_config = Request.model_config | {"json_schema_extra": {"minProperties": 1,
                                                                 "examples": [{"max_lines": 10}]}}

    @model_validator(mode="before")
    @classmethod
    def _changes_something(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise ValidationFailed("the body must be a JSON object with the fields to change")
        if "trunk" in value:
            raise ValidationFailed("the trunk of a campaign cannot change", field="trunk")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, checked; a field sent as ``null`` goes back to its
        default (``max_lines``: all of the trunk's lines)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class CampaignQuery(Request):
    status: Annotated[str | None, status_arg(CampaignStatus)] = None
    cursor: Cursor = None
    limit: Limit = 50


def _outcome(value: object, name: str, _: ApiContext) -> str | None:
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= 32
                                  and value.isprintable()):
        raise ValidationFailed(f"{name} must be 1-32 printable characters", field=name)
    return value


def _contact_cursor(value: object, name: str, _: ApiContext) -> int | None:
    if value is None:
        return None
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19):
        raise ValidationFailed(f"{name} is not valid", field=name)
    return int(value)


class ContactQuery(Request):
    state: Annotated[str | None, status_arg(ContactState, "state")] = None
    outcome: Annotated[str | None, checked_as(
        _outcome, Annotated[str, Field(min_length=1, max_length=32)])] = None
    to: Annotated[str | None, number_arg()] = None
    cursor: Annotated[int | None, checked_as(_contact_cursor, Annotated[str, Field(
        pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page")])] = None
    limit: Limit = 50


MAX_LINE_OFFSET = 1_000_000_000


def _line_offset(value: object, name: str, _: ApiContext) -> int:
    raw = str(value)
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_LINE_OFFSET:
        raise ValidationFailed(f"{name} must be a whole number", field=name)
    return int(raw)



class UploadQuery(Request):
    line_offset: Annotated[int, checked_as(_line_offset, Annotated[int, Field(
        ge=0, le=MAX_LINE_OFFSET, description="added to line numbers in the reject report")])
    ] = 0


def campaign_spec(body: object, api: ApiContext) -> CampaignSpec:
    """A new campaign from a client's JSON, or :class:`ValidationFailed` naming the field."""
    return validated(CampaignBody, body, api).spec(api)
