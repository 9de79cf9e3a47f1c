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

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased name -> first value, as Asterisk reads a message (the first copy of a
        header wins). Built on first use; not a cached_property, which takes a lock per
        access on the consumer's hot path. Read-only by convention."""
        try:
            return self.__dict__["_index"]  # type: ignore[no-any-return]
        except KeyError:
            index = {key.lower(): value for key, value in reversed(self.items)}
            self.__dict__["_index"] = index
            return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first header called ``name`` (case-insensitive), as Asterisk reads it."""
        return self.headers.get(name.lower(), default)

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
    under an empty key so nothing is silently dropped. The name is everything before the first
    colon, unstripped, as Asterisk matches it; one space after the colon is not part of the
    value."""
    items: list[tuple[str, str]] = []
    append = items.append
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep:
            append(("", line))
        elif value[:1] == " ":
            append((key, value[1:]))
        else:
            append((key, value))
    return AMIMessage(tuple(items))


class FrameDecoder:
    """Incremental decoder: feed bytes, get whole messages. Accepts CRLF or bare LF.

    The first line of a connection is the banner (``Asterisk Call Manager/x.y.z``), which has no
    blank line after it; :attr:`banner` holds it once seen.

    It works a chunk at a time rather than a line at a time (the consumer's hot path): line
    ends are folded to LF with one ``replace``, messages are split at blank lines with one
    ``split``, and only header parsing is left to Python. A CR at the end of a chunk is held
    back, since the LF that makes it a line end may come in the next one.
    """

    def __init__(self, expect_banner: bool = True, max_buffer: int = 1 << 20) -> None:
        self._pending = b""  # folded bytes of a message not yet complete
        self._cr = b""  # a CR that ended the last chunk
        self._expect_banner = expect_banner
        self._max_buffer = max_buffer
        self.banner: str | None = None

    def feed(self, data: bytes) -> Iterator[AMIMessage]:
        data = self._cr + data
        self._cr = b""
        if data.endswith(b"\r"):
            data, self._cr = data[:-1], b"\r"
        text = self._pending + data.replace(b"\r\n", b"\n")
        if self._expect_banner:
            end = text.find(b"\n")
            if end < 0:
                self._hold(text)
                return
            self._expect_banner = False
            self.banner = text[:end].decode("utf-8", errors="replace")
            text = text[end + 1:]
        *whole, rest = text.split(b"\n\n")
        self._hold(rest)
        for block in whole:
            block = block.lstrip(b"\n")  # extra blank lines between messages mean nothing
            if block:
                yield parse_lines(block.decode("utf-8", errors="replace").split("\n"))

    def _hold(self, pending: bytes) -> None:
        if len(pending) > self._max_buffer:
            raise ValueError("AMI message exceeds buffer limit")
        self._pending = pending
