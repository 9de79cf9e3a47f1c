"""Byte-level AMI details copied from Asterisk's ``manager.c`` and friends.

A simulator is only useful if clients meet the same edge cases they will meet in production:
the 1024-byte input buffer (and what happens to the rest of a too-long line), bare-LF line
ends, C-escaping of caller-controlled values, ``Variable`` splitting on commas and the
event-class masks. Each helper names the Asterisk function whose behaviour it reproduces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

INBUF = 1024  # sizeof(inbuf) - 1 in struct mansession_session

# include/asterisk/manager.h, perms[] in manager.c
EVENT_CLASSES: dict[str, int] = {
    "system": 1 << 0, "call": 1 << 1, "log": 1 << 2, "verbose": 1 << 3, "command": 1 << 4,
    "agent": 1 << 5, "user": 1 << 6, "config": 1 << 7, "dtmf": 1 << 8, "reporting": 1 << 9,
    "cdr": 1 << 10, "dialplan": 1 << 11, "originate": 1 << 12, "agi": 1 << 13, "cc": 1 << 15,
    "aoc": 1 << 16, "test": 1 << 17, "security": 1 << 18, "message": 1 << 19,
}
ALL_EVENTS = (1 << 20) - 1

# ast_cause2str (main/channel.c causes[])
CAUSE_TEXT: dict[int, str] = {
    1: "Unallocated (unassigned) number", 2: "No route to specified transmit network",
    3: "No route to destination", 5: "Misdialed trunk prefix", 6: "Channel unacceptable",
    7: "Call awarded and being delivered in an established channel", 8: "Pre-empted",
    14: "Number ported elsewhere", 16: "Normal Clearing", 17: "User busy",
    18: "No user responding", 19: "User alerting, no answer", 20: "Subscriber absent",
    21: "Call Rejected", 22: "Number changed", 23: "Redirected to new destination",
    26: "Answered elsewhere", 27: "Destination out of order", 28: "Invalid number format",
    29: "Facility rejected", 30: "Response to STATus ENQuiry", 31: "Normal, unspecified",
    34: "Circuit/channel congestion", 38: "Network out of order", 41: "Temporary failure",
    42: "Switching equipment congestion", 43: "Access information discarded",
    44: "Requested channel not available", 50: "Facility not subscribed",
    52: "Outgoing call barred", 54: "Incoming call barred",
    57: "Bearer capability not authorized", 58: "Bearer capability not available",
    65: "Bearer capability not implemented", 66: "Channel not implemented",
    69: "Facility not implemented", 81: "Invalid call reference value",
    88: "Incompatible destination", 95: "Invalid message unspecified",
    96: "Mandatory information element is missing", 97: "Message type nonexist.",
    98: "Wrong message", 99: "Info. element nonexist or not implemented",
    100: "Invalid information element contents", 101: "Message not compatible with call state",
    102: "Recover on timer expiry", 103: "Mandatory IE length error",
    111: "Protocol error, unspecified", 127: "Interworking, unspecified",
}

STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing",
              6: "Up", 7: "Busy", 8: "Dialing Offhook", 9: "Pre-ring"}

_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
              "\v": "\\v", "\\": "\\\\", "'": "\\'", '"': '\\"', "?": "\\?"}


def cause_text(cause: int) -> str:
    return CAUSE_TEXT.get(cause, "Unknown")


def render(items: Iterable[tuple[str, str]]) -> bytes:
    """One AMI message as Asterisk writes it: ``Key: value`` CRLF lines and a blank line."""
    body = "".join(f"{key}: {value}\r\n" for key, value in items)
    return (body + "\r\n").encode("utf-8", "surrogateescape")


def escape_c(value: str) -> str:
    """``ast_escape_c_alloc``: used on caller/connected names and VarSet values."""
    return "".join(_C_ESCAPES.get(ch, ch) for ch in value)


def ast_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("yes", "true", "y", "t", "1", "on")


def leading_int(value: str) -> int | None:
    """``sscanf(value, "%30d")``: the leading integer, or None."""
    match = re.match(r"\s*([+-]?\d+)", value)
    return int(match.group(1)) if match else None


def event_mask(value: str) -> int:
    """``strings_to_mask``: digits, a boolean, or a class list like ``call,system``."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    lowered = value.lower()
    if lowered in ("no", "false", "n", "f", "0", "off"):
        return 0
    if ast_true(lowered):
        return ALL_EVENTS
    parts = {p.strip() for p in lowered.split(",")}
    if "all" in parts:
        return ALL_EVENTS
    return sum(bit for name, bit in EVENT_CLASSES.items() if name in parts)


def parse_callerid(value: str) -> tuple[str, str]:
    """``ast_callerid_parse`` + ``ast_shrink_phone_number``: returns (name, number)."""
    value = value.strip()
    if not value:
        return "", ""
    lt = value.rfind("<")
    if lt >= 0 and value.find(">", lt) > lt:
        number = value[lt + 1:value.find(">", lt)]
        name = value[:lt].strip().strip('"').strip()
        return name, _shrink(number)
    if re.fullmatch(r"[0-9+*#()\-. ]+", value):
        return "", _shrink(value)
    return value.strip('"'), ""


def _shrink(number: str) -> str:
    return re.sub(r"[()\-. ]", "", number)


def split_app_args(value: str, limit: int = 64) -> list[str]:
    """``AST_STANDARD_APP_ARGS``: split on top-level commas, honour ()/[] nesting, drop quotes
    and backslashes (the escaped character is kept)."""
    args: list[str] = []
    current: list[str] = []
    paren = bracket = 0
    quote = False
    chars = iter(value)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, ""))
        elif ch == '"':
            quote = not quote
        elif ch == "," and not (paren or bracket or quote) and len(args) < limit - 1:
            args.append("".join(current))
            current = []
        else:
            if ch == "(":
                paren += 1
            elif ch == ")" and paren:
                paren -= 1
            elif ch == "[":
                bracket += 1
            elif ch == "]" and bracket:
                bracket -= 1
            current.append(ch)
    if current:
        args.append("".join(current))
    return args


def split_variables(values: Iterable[str]) -> list[tuple[str, str]]:
    """``man_do_variable_value`` over every ``Variable`` header, in natural order."""
    result: list[tuple[str, str]] = []
    for raw in values:
        for item in split_app_args(raw.lstrip(" \t")):
            name, sep, val = item.partition("=")
            if sep and name:
                result.append((name, val))
    return result


def var_base(name: str) -> str:
    """``ast_var_name``: ``_X`` and ``__X`` (inheritance markers) are read back as ``X``."""
    if name.startswith("__"):
        return name[2:]
    if name.startswith("_"):
        return name[1:]
    return name


class LineAssembler:
    """``get_input``: lines end at CRLF or a bare LF; a line that fills the 1024-byte buffer
    without a line end is discarded (its last byte is kept) and the message is flagged, so the
    action is answered with ``Failed to parse message: line too long`` at its blank line."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending = bytearray()
        self.too_long = False

    def feed(self, data: bytes) -> None:
        self._pending.extend(data)

    def next_line(self) -> str | None:
        """The next complete line (without its end), or None when more bytes are needed."""
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                cut = end - 1 if end > 0 and self._buf[end - 1] == 0x0D else end
                raw = bytes(self._buf[:cut])
                del self._buf[: end + 1]
                return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if len(self._buf) >= INBUF:
                self._buf = self._buf[-1:]
                self.too_long = True
                continue
            if not self._pending:
                return None
            take = INBUF - len(self._buf)
            self._buf.extend(self._pending[:take])
            del self._pending[:take]
