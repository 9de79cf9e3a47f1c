"""Validation of a client's call request into a :class:`CallRequest` the core trusts.

This is the gate that keeps client text away from the AMI socket: the number becomes a dial
string through :mod:`dispatcher.domain.numbers`, variable names and values are restricted to
what can't change an AMI action or a dialplan, and metadata is stored but never sent to
Asterisk.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from dispatcher.domain.callbacks import DEFAULT_EVENTS, CallbackRefused, check_url, parse_events
from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.numbers import InvalidNumber, NumberPolicy, parse_caller_id
from dispatcher.domain.trunks import TrunkTable

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
VARIABLE_VALUE = re.compile(r"^[A-Za-z0-9 _.:@+\-/]{0,128}$")
# A call's variables are set on the originated channel, and a channel variable shadows a
# dialplan global of the same name: "TRUNK_LINES": "9999" would lift the line cap. These are
# the names the rendered dialplan (asterisk-conf/templates/extensions.conf) reads.
DIALPLAN_VARIABLES = frozenset({"CALL_ID", "TRUNK_LINES", "MAX_CALL_SECONDS", "ANSWER_SOUND",
                                "DEFAULT_CALLER_ID"})
# Names Asterisk reads or sets itself (docs.asterisk.org, "Asterisk Standard Channel
# Variables" and the per-application lists): set by a client they could redirect a transfer or
# a forwarded call (TRANSFER_CONTEXT, FORWARD_CONTEXT), enable feature codes
# (DYNAMIC_FEATURES, BRIDGE_FEATURES), run subroutines (CONNECTED_LINE_*_SEND_SUB,
# REDIRECTING_*), change groups the line cap counts (OUTBOUND_GROUP) or fake results.
ASTERISK_VARIABLES = frozenset({
    "ACCOUNTCODE", "AGIEXITONHANGUP", "AGISIGHUP", "AGISTATUS", "ANSWEREDTIME",
    "ATTENDEDTRANSFER", "BLINDTRANSFER", "CALLERANI", "CALLINGANI2", "CALLINGPRES",
    "CALLINGTNS", "CALLINGTON", "CONTEXT", "DATETIME", "DB_RESULT", "DIALSTATUS", "DNID",
    "ENTITYID", "ENUM", "EPOCH", "EXITCONTEXT", "EXTEN", "HINT", "HINTNAME", "INVALID_EXTEN",
    "LANGUAGE", "LINKEDID", "MASTER_CHANNEL", "PICKUPMARK", "PRIORITY", "PRIREDIRECTREASON",
    "QUEUEPOSITION", "QUEUESTATUS", "RDNIS", "RECORDED_FILE", "SPRINTF", "SPYGROUP",
    "SYSTEMNAME", "TALK_DETECTED", "TIMESTAMP", "TXTCIDNAME", "UNIQUEID", "XFERSOUND",
})
ASTERISK_PREFIXES = (
    "ANSWEREDTIME", "AST_", "ATTENDED_TRANSFER", "AUDIOHOOK", "BRIDGE", "CALLERID", "CDR",
    "CHANNEL", "CONNECTEDLINE", "CONNECTED_LINE", "DIALEDPEER", "DIALEDTIME", "DYNAMIC_",
    "FAXOPT", "FORWARD", "GOSUB_", "GOTO_ON_", "GROUP", "HANGUPCAUSE", "LIMIT_", "MACRO_",
    "MEETME", "MIXMON", "MONITOR", "OUTBOUND_GROUP", "PARK", "PJSIP_", "PROGRESSTIME",
    "QUEUE_", "REDIRECTING", "RINGTIME", "RTPAUDIOQOS", "RTPVIDEOQOS", "SIP", "TOUCH_",
    "TRANSFER", "VM_",
)
RESERVED_VARIABLES = DIALPLAN_VARIABLES | ASTERISK_VARIABLES
_SUBROUTINE_ARGUMENT = re.compile(r"ARG[0-9]+")  # Gosub/Macro arguments: ${ARG1} in the dialplan
MAX_VARIABLES = 32
MAX_METADATA_BYTES = 16384
MAX_METADATA_DEPTH = 32
TIMEOUT_RANGE = (5, 120)
DEFAULT_PRIORITY = 5
MAX_BATCH_CALLS = 500
MAX_IDEMPOTENCY_KEY = 255  # the column's width
# Room for '#499': each call of a batch is stored under the key, '#' and its index.
MAX_BATCH_IDEMPOTENCY_KEY = MAX_IDEMPOTENCY_KEY - len(f"#{MAX_BATCH_CALLS - 1}")


@dataclass(frozen=True)
class CallRequest:
    to: str
    dial_string: str
    caller_id: str | None
    timeout: int
    trunk: str = ""
    priority: int = DEFAULT_PRIORITY
    variables: dict[str, str] = field(default_factory=dict)
    metadata: Any = None
    status_callback: str | None = None
    callback_events: tuple[str, ...] = DEFAULT_EVENTS

    def fingerprint(self) -> str:
        """What an idempotent replay must match: the same request, not just the same key."""
        body = json.dumps(
            {"to": self.to, "from": self.caller_id, "timeout": self.timeout,
             "priority": self.priority, "variables": self.variables, "metadata": self.metadata,
             "status_callback": self.status_callback,
             "status_callback_event": list(self.callback_events)},
            sort_keys=True, separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()


def parse_timeout(value: object) -> int:
    if value is None:
        return 30
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed("timeout must be an integer number of seconds", field="timeout")
    low, high = TIMEOUT_RANGE
    if not low <= value <= high:
        raise ValidationFailed(f"timeout must be between {low} and {high}", field="timeout")
    return value


def parse_priority(value: object) -> int:
    if value is None:
        return DEFAULT_PRIORITY
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
        raise ValidationFailed("priority must be an integer from 0 (lowest) to 9 (highest)",
                               field="priority")
    return value


def reserved_variable(name: str) -> str | None:
    """The reserved name or prefix (``LIMIT_*``) ``name`` falls under, else None.

    Compared without the ``_``/``__`` inheritance prefixes (``__TRUNK_LINES`` reaches the
    dialplan as ``TRUNK_LINES``) and in any case: Asterisk before 12 read dialplan variables
    case-insensitively, and a near-miss like ``trunk_lines`` has no innocent use anyway.
    """
    stem = name.lstrip("_").upper()
    if stem in RESERVED_VARIABLES:
        return stem
    if stem.startswith(ASTERISK_PREFIXES):
        return next(p for p in ASTERISK_PREFIXES if stem.startswith(p)) + "*"
    if _SUBROUTINE_ARGUMENT.fullmatch(stem):
        return "ARG<n>"
    return None


def variable_name_problem(name: str) -> str | None:
    """Why ``name`` may not be a call variable, or None: the one check for API calls, batches,
    campaigns and contact uploads (CSV columns and JSON lines) alike."""
    # fullmatch: with match, ``$`` also accepts a trailing "\n" (an AMI line break).
    if not VARIABLE_NAME.fullmatch(name) or not name.strip("_"):
        return "is not a valid name: use [A-Za-z_][A-Za-z0-9_]*, at most 64 characters"
    reserved = reserved_variable(name)
    if reserved is None:
        return None
    if reserved in DIALPLAN_VARIABLES:
        return f"is reserved: the dispatcher's dialplan reads {reserved}"
    return f"is reserved: Asterisk gives {reserved} a meaning of its own"


def parse_variables(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed("variables must be an object", field="variables")
    if len(value) > MAX_VARIABLES:
        raise ValidationFailed(f"at most {MAX_VARIABLES} variables", field="variables")
    result: dict[str, str] = {}
    for name, raw in value.items():
        problem = variable_name_problem(name)
        if problem:
            raise ValidationFailed(f"variable {name[:64]!r} {problem}",
                                   field=f"variables.{name}"[:100])
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValidationFailed("variable values must be strings or numbers",
                                   field=f"variables.{name}")
        text = str(raw)
        if not VARIABLE_VALUE.fullmatch(text):
            raise ValidationFailed(
                "variable values may hold up to 128 letters, digits, spaces and _.:@+-/ only",
                field=f"variables.{name}")
        result[name] = text
    return result


def _unstorable(value: object) -> str | None:
    """Why PostgreSQL's jsonb would refuse ``value`` (or nesting we won't walk), else None."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            return f"nests deeper than {MAX_METADATA_DEPTH} levels"
        texts: list[object] = []
        if isinstance(item, dict):
            texts += item.keys()
            stack += [(child, depth + 1) for child in item.values()]
        elif isinstance(item, list):
            stack += [(child, depth + 1) for child in item]
        elif isinstance(item, str):
            texts.append(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return "holds a number that is not finite"
        for text in texts:
            if not isinstance(text, str) or "\x00" in text:
                return "holds a NUL character or a non-string key"
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return "holds an unpaired UTF-16 surrogate"
    return None


def parse_metadata(value: object) -> Any:
    problem = _unstorable(value)
    if problem:
        raise ValidationFailed(f"metadata {problem}", field="metadata")
    if value is not None and len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValidationFailed(f"metadata must be under {MAX_METADATA_BYTES} bytes as JSON",
                               field="metadata")
    return value


def parse_callback_url(value: object, allow_private: bool) -> str | None:
    if value is None:
        return None
    try:
        return check_url(value, allow_private=allow_private)
    except CallbackRefused as exc:
        raise ValidationFailed(f"status_callback {exc}", field="status_callback") from None


def parse_callback_events(value: object) -> tuple[str, ...]:
    try:
        return parse_events(value)
    except ValueError as exc:
        raise ValidationFailed(f"status_callback_event {exc}",
                               field="status_callback_event") from None


def parse_caller(value: object, field_name: str = "from") -> str | None:
    """A caller ID the client chose; None leaves it to the trunk or the deployment's default."""
    if value is None:
        return None
    try:
        return parse_caller_id(value)
    except InvalidNumber as exc:
        raise ValidationFailed(f"{field_name} {exc}", field=field_name) from None


@dataclass(frozen=True)
class RoutedNumber:
    """A destination the number rules admit, with the trunk that serves it and the dial string
    that trunk is sent."""

    e164: str
    dial_string: str
    trunk: str = ""


def route_number(value: object, policy: NumberPolicy,
                 trunks: TrunkTable | None = None) -> RoutedNumber:
    """Parse the destination, route it to a trunk and build its dial string: everything about
    ``to`` that can refuse a call happens here, before anything is stored."""
    try:
        destination = policy.parse(value)
    except InvalidNumber as exc:
        raise ValidationFailed(f"to {exc}", field="to") from None
    trunk = trunks.route(destination.e164) if trunks else None
    if trunks and trunk is None:
        raise ValidationFailed("to: no trunk serves this number", field="to")
    try:
        dial_string = policy.dial_string(destination, trunk.dial_template if trunk else None)
    except InvalidNumber as exc:
        raise ValidationFailed(f"to {exc}", field="to") from None
    return RoutedNumber(destination.e164, dial_string, trunk.name if trunk else "")
