"""The rules of a client's campaign definition, and the :class:`CampaignSpec` the core trusts.

The same gate as single calls: caller ID, variables and the Originate target are checked by
these rules (the API's models in ``web/models`` apply them field by field), so a campaign can
only ever put into an AMI action what a single API call could.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dispatcher.domain.call_windows import DEFAULT_TIMEZONE, Windows, check_timezone
from dispatcher.domain.callbacks import DEFAULT_EVENTS
from dispatcher.domain.campaign_rules import RetryPolicy
from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.trunks import Trunk, TrunkTable

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


def parse_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200 \
            or not value.isprintable():
        raise ValidationFailed("name must be 1-200 printable characters", field="name")
    return value.strip()


def parse_trunk(value: object, trunks: TrunkTable) -> Trunk:
    """The trunk a campaign dials on: the default one, or one named in the trunk table."""
    if value is None:
        return trunks.default
    try:
        trunk = trunks.get(value) if isinstance(value, str) else None
    except KeyError:
        trunk = None
    if trunk is None:
        raise ValidationFailed("trunk: no such trunk (see GET /v1/trunks)", field="trunk")
    return trunk


def parse_max_lines(value: object, limit: int | None) -> int | None:
    """At most the trunk's lines; None means all of them. With ``limit`` unknown (a change to
    a stored campaign, before its trunk is read) only the shape is checked."""
    if value is None:
        return limit
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 \
            or (limit is not None and value > limit):
        where = f"the trunk's {limit}" if limit is not None else "the trunk's"
        raise ValidationFailed(f"max_lines must be an integer from 1 to {where} lines",
                               field="max_lines")
    return value


def parse_cps(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 < value <= MAX_CPS:
        raise ValidationFailed(f"cps must be a number above 0 and at most {MAX_CPS:g}",
                               field="cps")
    return float(value)


def parse_timezone(value: object) -> str:
    return DEFAULT_TIMEZONE if value is None else check_timezone(value)


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


def parse_dnc_lists(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_DNC_LISTS:
        raise ValidationFailed(f"dnc_lists must be a list of at most {MAX_DNC_LISTS} names",
                               field="dnc_lists")
    return tuple(dict.fromkeys(parse_list_name(v, "dnc_lists") for v in value))


# A change names fields of the API; the campaign's row stores some under other names or forms.
_COLUMNS: dict[str, tuple[str, Any]] = {
    "timeout": ("ring_timeout", lambda v: v),
    "retry": ("retry", lambda v: v.as_json()),
    "windows": ("windows", lambda v: v.as_json()),
    "dnc_lists": ("dnc_lists", list),
    "status_callback_event": ("callback_events", " ".join),
}


def update_columns(changes: dict[str, Any], trunk_lines: int) -> dict[str, Any]:
    """The columns a ``PATCH`` sets, from its already checked fields. ``max_lines`` is bounded
    here, by the lines of the trunk the stored campaign dials on (which cannot change: calls
    of the campaign may be in flight on it)."""
    columns: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "max_lines":
            value = parse_max_lines(value, trunk_lines)
        column, convert = _COLUMNS.get(name, (name, lambda v: v))
        columns[column] = convert(value)
    return columns
