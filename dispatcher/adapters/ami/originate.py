"""Build a safe AMI ``Originate`` action. Pure: no I/O.

Every field ends up as an AMI header, and Asterisk gives several of them extra meaning
(``docs/ami-notes.md#header-injection``): a CR/LF starts a new header or action, the first copy
of a header wins (an injected ``Context`` means toll fraud), ``Variable`` values are split on
commas and have quotes/backslashes processed, ``CallerID`` is parsed as ``"name" <number>``,
and a ``Channel`` starting with ``/`` is a regex in Hangup/Status. So each field is checked
against a narrow allow-list here, and the result still goes through
:func:`protocol.serialize_action`, which refuses CR/LF/NUL/non-ASCII/over-long lines (defence
in depth).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dispatcher.adapters.ami.protocol import UnsafeAMIValue, serialize_action

__all__ = [
    "InvalidOriginate",
    "OriginateRequest",
    "validate_channel",
    "validate_channel_ref",
    "validate_header_names",
    "validate_variable",
]

MAX_TIMEOUT_S = 3600
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# tech/resource, e.g. PJSIP/09121234567@carrier-trunk or Local/1005@outbound/n
_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}/[A-Za-z0-9_.+@\-][A-Za-z0-9_.+@/\-]{0,127}$")
# an existing channel's name (PJSIP/trunk-0000000b, Local/x@ctx-00000000;1) or a Uniqueid
_CHANNEL_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+@/;:\-]{0,148}$")
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_()\-]{0,63}")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_VAR_VALUE_FORBIDDEN = re.compile(r'[,"\\;|&(){}$]|[^\x20-\x7e]')
MAX_VAR_VALUE = 256
_CID_NAME = r"[A-Za-z0-9 .\-_]{0,40}"
_CID_NUMBER = r"\+?[0-9]{1,20}"
_CALLER_ID = re.compile(rf'^(?:"{_CID_NAME}" <{_CID_NUMBER}>|{_CID_NUMBER})$')
_CONTEXT = re.compile(r"^[A-Za-z0-9_\-]{1,79}$")
_EXTEN = re.compile(r"^[A-Za-z0-9_+*#\-]{1,79}$")
_APPLICATION = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_DATA = re.compile(r"^[A-Za-z0-9_.:@/+=,\-]{0,256}$")
# Applications Asterisk itself only allows with write=system (originate_app_permissions), plus
# close relatives: refuse them even if the AMI user were over-privileged.
_DANGEROUS_APPS = frozenset(
    {"system", "trysystem", "exec", "execif", "execiftime", "agi", "eagi", "deadagi",
     "originate", "mixmonitor", "monitor"}
)


class InvalidOriginate(UnsafeAMIValue):
    """An Originate (or Hangup target) field outside its allow-list.

    A ``ValueError`` (via :class:`UnsafeAMIValue`), deliberately not an ``AMIError``: it is a
    bug or hostile input, never a reason to retry.
    """


def _check(pattern: re.Pattern[str], value: object, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidOriginate(f"invalid {what}: {value!r}")
    return value


def validate_variable(name: str, value: str) -> None:
    """Refuse a channel variable that could inject another variable or dialplan code.

    Asterisk splits each ``Variable`` header on commas and strips quotes and backslashes
    (``man_do_variable_value``), and the dialplan may later expand ``$``/``{}``/``()``.
    """
    _check(_VAR_NAME, name, "variable name")
    if not isinstance(value, str):
        raise InvalidOriginate(f"variable {name} value must be str, got {type(value).__name__}")
    if len(value) > MAX_VAR_VALUE:
        raise InvalidOriginate(f"variable {name} value longer than {MAX_VAR_VALUE}")
    bad = _VAR_VALUE_FORBIDDEN.search(value)
    if bad:
        raise InvalidOriginate(f"variable {name} value contains forbidden character {bad[0]!r}")


def validate_header_names(headers: Sequence[tuple[str, str]]) -> None:
    """Refuse header names with anything but letters, digits, ``_()-``.

    ``protocol.serialize_action`` checks names with ``re.match`` and ``$``, which also accepts a
    name ending in ``\n`` (``"Action\n"`` would be written as a line of its own).
    """
    for name, _ in headers:
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InvalidOriginate(f"invalid AMI header name {name!r}")


def validate_channel(channel: str) -> str:
    """A dial string ``tech/resource``: no spaces, control characters, ``&``, ``,`` or leading
    ``/`` (regex)."""
    return _check(_CHANNEL, channel, "channel")


def validate_channel_ref(channel: str) -> str:
    """A live channel's name or Uniqueid, as given to Hangup/Status.

    A value starting with ``/`` would be a regex matching every channel, so it is refused.
    """
    return _check(_CHANNEL_REF, channel, "channel name or uniqueid")


def _check_timeout(timeout_s: object) -> int:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int):
        raise InvalidOriginate(f"timeout_s must be int, got {timeout_s!r}")
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise InvalidOriginate(f"timeout_s out of range: {timeout_s}")
    return timeout_s


@dataclass(frozen=True)
class OriginateRequest:
    """One dial attempt. ``action_id`` (the attempt UUID) is sent as both ``ActionID`` and
    ``ChannelId``, so the reply, ``OriginateResponse`` and every channel event (Uniqueid /
    Linkedid) join back to the attempt row (``docs/ami-notes.md#uniqueid``)."""

    action_id: str
    channel: str
    timeout_s: int
    caller_id: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    context: str | None = None
    exten: str | None = None
    priority: int | None = None
    application: str | None = None
    data: str | None = None

    def __post_init__(self) -> None:
        # Private copy: a caller mutating its dict afterwards cannot bypass validation.
        object.__setattr__(self, "variables", dict(self.variables))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InvalidOriginate` unless every field is inside its allow-list."""
        _check(_UUID, self.action_id, "action_id (must be a UUID)")
        validate_channel(self.channel)
        _check_timeout(self.timeout_s)
        if self.caller_id is not None:
            _check(_CALLER_ID, self.caller_id, "caller_id")
        for name, value in self.variables.items():
            validate_variable(name, value)
        self._validate_target()

    def _validate_target(self) -> None:
        dialplan = (self.context, self.exten, self.priority)
        if self.application is not None:
            if any(v is not None for v in dialplan):
                raise InvalidOriginate("give either context/exten/priority or application")
            _check(_APPLICATION, self.application, "application")
            if self.application.lower() in _DANGEROUS_APPS:
                raise InvalidOriginate(f"application {self.application} is not allowed")
            if self.data is not None:
                _check(_DATA, self.data, "application data")
            return
        if self.data is not None:
            raise InvalidOriginate("data given without application")
        if any(v is None for v in dialplan):
            raise InvalidOriginate("context, exten and priority are all required")
        _check(_CONTEXT, self.context, "context")
        _check(_EXTEN, self.exten, "exten")
        priority = self.priority
        if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
            raise InvalidOriginate(f"invalid priority: {priority!r}")

    def headers(self) -> list[tuple[str, str]]:
        """The Originate headers, in the order of the real captures; validated again and run
        through ``serialize_action`` so nothing unsafe can leave this method."""
        self.validate()
        headers: list[tuple[str, str]] = [
            ("Action", "Originate"),
            ("ActionID", self.action_id),
            ("Channel", self.channel),
        ]
        if self.application is not None:
            headers.append(("Application", self.application))
            if self.data is not None:
                headers.append(("Data", self.data))
        else:
            headers += [
                ("Context", str(self.context)),
                ("Exten", str(self.exten)),
                ("Priority", str(self.priority)),
            ]
        headers.append(("Timeout", str(self.timeout_s * 1000)))
        if self.caller_id is not None:
            headers.append(("CallerID", self.caller_id))
        headers += [("Variable", f"{name}={value}") for name, value in self.variables.items()]
        headers += [("ChannelId", self.action_id), ("Async", "true")]
        try:
            serialize_action(headers)
        except InvalidOriginate:
            raise
        except UnsafeAMIValue as exc:
            raise InvalidOriginate(str(exc)) from exc
        return headers
