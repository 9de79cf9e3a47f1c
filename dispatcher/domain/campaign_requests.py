"""Validation of a client's campaign definition into a :class:`CampaignSpec` the core trusts.

The same gate as single calls: caller ID, variables and the Originate target are checked here,
so a campaign can only ever put into an AMI action what a single API call could.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dispatcher.domain.call_requests import (
    parse_callback,
    parse_priority,
    parse_timeout,
    parse_variables,
)
from dispatcher.domain.call_windows import DEFAULT_TIMEZONE, Windows, check_timezone, parse_windows
from dispatcher.domain.callbacks import DEFAULT_EVENTS
from dispatcher.domain.campaign_rules import RetryPolicy, parse_retry
from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.numbers import InvalidNumber, parse_caller_id
from dispatcher.domain.trunks import TrunkTable

FIELDS = frozenset({"name", "trunk", "caller_id", "max_lines", "cps", "timeout", "priority",
                    "target", "variables", "retry", "windows", "timezone", "dnc_lists",
                    "status_callback", "status_callback_event"})
DIALPLAN_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,79}$")
EXTENSION = re.compile(r"^[A-Za-z0-9_+*#\-]{1,79}$")
LIST_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MAX_CPS = 100.0
MAX_DNC_LISTS = 16


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    trunk: str
    max_lines: int
    caller_id: str | None = None
    cps: float | None = None
    timeout: int = 30
    priority: int = 5
    target: dict[str, Any] | None = None
    variables: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    windows: Windows = field(default_factory=Windows)
    timezone: str = DEFAULT_TIMEZONE
    dnc_lists: tuple[str, ...] = ()
    status_callback: str | None = None
    callback_events: tuple[str, ...] = DEFAULT_EVENTS


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200 \
            or not value.isprintable():
        raise ValidationFailed("name must be 1-200 printable characters", field="name")
    return value.strip()


def _max_lines(value: object, limit: int) -> int:
    if value is None:
        return limit
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ValidationFailed(f"max_lines must be an integer from 1 to the trunk's {limit} "
                               "lines", field="max_lines")
    return value


def _cps(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 < value <= MAX_CPS:
        raise ValidationFailed(f"cps must be a number above 0 and at most {MAX_CPS:g}",
                               field="cps")
    return float(value)


def parse_target(value: object) -> dict[str, Any] | None:
    """Where answered calls go: a dialplan context, extension and priority; nothing else (no
    applications), so a campaign cannot run arbitrary Asterisk applications."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"context", "exten", "priority"}:
        raise ValidationFailed("target must be {context, exten, priority}", field="target")
    context, exten = value.get("context"), value.get("exten", "s")
    priority = value.get("priority", 1)
    if not isinstance(context, str) or not DIALPLAN_NAME.fullmatch(context):
        raise ValidationFailed("target.context must be 1-79 letters, digits, '_' or '-'",
                               field="target.context")
    if not isinstance(exten, str) or not EXTENSION.fullmatch(exten):
        raise ValidationFailed("target.exten must be 1-79 of A-Z a-z 0-9 _ + * # -",
                               field="target.exten")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 999:
        raise ValidationFailed("target.priority must be an integer from 1 to 999",
                               field="target.priority")
    return {"context": context, "exten": exten, "priority": priority}


def parse_list_name(value: object, field_name: str = "name") -> str:
    if not isinstance(value, str) or not LIST_NAME.fullmatch(value):
        raise ValidationFailed(f"{field_name} must be 1-64 of A-Z a-z 0-9 _ . -",
                               field=field_name)
    return value


def _dnc_lists(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_DNC_LISTS:
        raise ValidationFailed(f"dnc_lists must be a list of at most {MAX_DNC_LISTS} names",
                               field="dnc_lists")
    return tuple(dict.fromkeys(parse_list_name(v, "dnc_lists") for v in value))


UPDATABLE = FIELDS - {"trunk"}


def parse_campaign_update(body: object, trunks: TrunkTable, trunk: str, *,
                          allow_private_callbacks: bool = False) -> dict[str, Any]:
    """The columns a ``PATCH`` changes, checked by the same rules as a new campaign. The trunk
    cannot change: calls of the campaign may be in flight on it."""
    if not isinstance(body, dict) or not body:
        raise ValidationFailed("the body must be a JSON object with the fields to change")
    if "trunk" in body:
        raise ValidationFailed("the trunk of a campaign cannot change", field="trunk")
    unknown = sorted(set(body) - UPDATABLE)
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0][:64]!r}", field=unknown[0][:100])
    parsers: dict[str, Any] = {
        "name": lambda v: ("name", _name(v)),
        "max_lines": lambda v: ("max_lines", _max_lines(v, trunks.get(trunk).lines)),
        "caller_id": lambda v: ("caller_id", _caller_id(v)),
        "cps": lambda v: ("cps", _cps(v)),
        "timeout": lambda v: ("ring_timeout", parse_timeout(v)),
        "priority": lambda v: ("priority", parse_priority(v)),
        "target": lambda v: ("target", parse_target(v)),
        "variables": lambda v: ("variables", parse_variables(v)),
        "retry": lambda v: ("retry", parse_retry(v).as_json()),
        "windows": lambda v: ("windows", parse_windows(v).as_json()),
        "timezone": lambda v: ("timezone", DEFAULT_TIMEZONE if v is None
                               else check_timezone(v)),
        "dnc_lists": lambda v: ("dnc_lists", list(_dnc_lists(v))),
    }
    changes = dict(parsers[name](body[name]) for name in body if name in parsers)
    if "status_callback" in body or "status_callback_event" in body:
        url, events = parse_callback(body, allow_private_callbacks)
        if "status_callback" in body:
            changes["status_callback"] = url
        changes["callback_events"] = " ".join(events)
    return changes


def _caller_id(value: object) -> str | None:
    if value is None:
        return None
    try:
        return parse_caller_id(value)
    except InvalidNumber as exc:
        raise ValidationFailed(f"caller_id {exc}", field="caller_id") from None


def parse_campaign_request(body: object, trunks: TrunkTable, default_caller_id: str | None,
                           *, allow_private_callbacks: bool = False) -> CampaignSpec:
    if not isinstance(body, dict):
        raise ValidationFailed("the request body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0][:64]!r}", field=unknown[0][:100])
    trunk_name = body.get("trunk")
    if trunk_name is None:
        trunk = trunks.default
    else:
        try:
            trunk = trunks.get(trunk_name) if isinstance(trunk_name, str) else None
        except KeyError:
            trunk = None
        if trunk is None:
            raise ValidationFailed("trunk: no such trunk (see GET /v1/trunks)", field="trunk")
    caller = body.get("caller_id")
    try:
        caller_id = parse_caller_id(caller) if caller is not None else default_caller_id or None
    except InvalidNumber as exc:
        raise ValidationFailed(f"caller_id {exc}", field="caller_id") from None
    timezone = body.get("timezone")
    callback, events = parse_callback(body, allow_private_callbacks)
    return CampaignSpec(
        name=_name(body.get("name")), trunk=trunk.name,
        max_lines=_max_lines(body.get("max_lines"), trunk.lines), caller_id=caller_id,
        cps=_cps(body.get("cps")), timeout=parse_timeout(body.get("timeout")),
        priority=parse_priority(body.get("priority")), target=parse_target(body.get("target")),
        variables=parse_variables(body.get("variables")), retry=parse_retry(body.get("retry")),
        windows=parse_windows(body.get("windows")),
        timezone=DEFAULT_TIMEZONE if timezone is None else check_timezone(timezone),
        dnc_lists=_dnc_lists(body.get("dnc_lists")), status_callback=callback,
        callback_events=events,
    )
