"""AMI wire format: framing, parsing and the one safe way to serialise an action.

Asterisk ends a header at a bare LF as well as CRLF, lets the *first* copy of a header win and
starts a new action at every blank line, so a CR, LF or NUL inside a value is an injection, not a
typo. Every byte we write to an AMI socket goes through :func:`serialize_action`, which refuses
such values instead of cleaning them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

MAX_LINE_BYTES = 1024  # Asterisk discards longer input lines (manager.c inbuf[1025])
_FORBIDDEN = re.compile(r"[\r\n\x00]")
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_()\-]*")


class UnsafeAMIValue(ValueError):
    """A value that would change the meaning of the AMI stream if written."""


Headers = Sequence[tuple[str, str]] | Mapping[str, str]


@dataclass(frozen=True)
class AMIMessage:
    """One AMI message with header order and duplicates kept (``Variable`` repeats)."""

    items: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @cached_property
    def _first(self) -> dict[str, str]:
        """Lower-cased name -> first value; built once, on the first lookup."""
        index: dict[str, str] = {}
        for key, value in self.items:
            index.setdefault(key.lower(), value)
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first header called ``name`` (case-insensitive), as Asterisk reads it."""
        return self._first.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.items if key.lower() == wanted]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    @property
    def kind(self) -> str:
        """``event``, ``response`` or ``action``, from the first header."""
        if not self.items:
            return "empty"
        return self.items[0][0].lower()

    @property
    def name(self) -> str:
        return self.items[0][1] if self.items else ""

    def as_dict(self) -> dict[str, str]:
        """First occurrence wins, like Asterisk's own header lookup."""
        result: dict[str, str] = {}
        for key, value in self.items:
            result.setdefault(key, value)
        return result

    def to_bytes(self) -> bytes:
        return serialize_action(self.items)


def _pairs(headers: Headers) -> Iterable[tuple[str, str]]:
    return headers.items() if isinstance(headers, Mapping) else headers


def serialize_action(headers: Headers) -> bytes:
    """Render headers as one AMI message, refusing anything that could smuggle a second one.

    :raises UnsafeAMIValue: on CR, LF or NUL anywhere, a non-ASCII value, a bad header name, or
        a line longer than Asterisk accepts.
    """
    lines: list[str] = []
    for key, value in _pairs(headers):
        value = str(value)
        if not _HEADER_NAME.fullmatch(key):
            raise UnsafeAMIValue(f"bad AMI header name {key!r}")
        if _FORBIDDEN.search(value):
            raise UnsafeAMIValue(f"AMI header {key} contains CR, LF or NUL")
        if not value.isascii():
            raise UnsafeAMIValue(f"AMI header {key} is not ASCII")
        line = f"{key}: {value}"
        if len(line) + 2 > MAX_LINE_BYTES:
            raise UnsafeAMIValue(f"AMI header {key} is longer than {MAX_LINE_BYTES} bytes")
        lines.append(line)
    if not lines:
        raise UnsafeAMIValue("empty AMI message")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def parse_lines(lines: Iterable[str]) -> AMIMessage:
    """Parse header lines (without line ends) into a message; lines without a colon are kept
    under an empty key so nothing is silently dropped."""
    items: list[tuple[str, str]] = []
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep:
            items.append(("", line))
            continue
        items.append((key.strip(), value[1:] if value.startswith(" ") else value))
    return AMIMessage(tuple(items))


class FrameDecoder:
    """Incremental decoder: feed bytes, get whole messages. Accepts CRLF or bare LF.

    The first line of a connection is the banner (``Asterisk Call Manager/x.y.z``), which has no
    blank line after it; :attr:`banner` holds it once seen.
    """

    def __init__(self, expect_banner: bool = True, max_buffer: int = 1 << 20) -> None:
        self._buffer = bytearray()
        self._pos = 0
        self._lines: list[str] = []
        self._expect_banner = expect_banner
        self._max_buffer = max_buffer
        self.banner: str | None = None

    def feed(self, data: bytes) -> Iterator[AMIMessage]:
        # A read offset instead of deleting each line from the front of the buffer: that
        # memmove per line made a 64 KiB burst of events quadratic.
        buffer = self._buffer
        if self._pos:
            del buffer[: self._pos]
            self._pos = 0
        buffer.extend(data)
        while True:
            end = buffer.find(b"\n", self._pos)
            if end < 0:
                if len(buffer) - self._pos > self._max_buffer:
                    raise ValueError("AMI line exceeds buffer limit")
                return
            raw = bytes(buffer[self._pos:end])
            self._pos = end + 1
            text = (raw[:-1] if raw.endswith(b"\r") else raw).decode("utf-8", errors="replace")
            if self._expect_banner:
                self._expect_banner = False
                self.banner = text
                continue
            if text == "":
                if self._lines:
                    message = parse_lines(self._lines)
                    self._lines = []
                    yield message
                continue
            self._lines.append(text)
