"""Reader for the ``AMI-TRACE v1`` captures of real Asterisk 22 kept in ``tests/data/ami-traces``
(recorded facts of real Asterisk behaviour; their README describes the lab and the format)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from dispatcher.adapters.ami.protocol import AMIMessage, FrameDecoder

_BLOCK = re.compile(r"^t=(?P<t>[0-9.]+) conn=(?P<conn>\S+) (?P<kind>[A-Z]+)(?: (?P<text>.*))?$")


def traces_dir() -> Path:
    """The repository's own copy, unless ``$DISPATCHER_TRACES`` points at another set of
    captures in the same format (for example new recordings being checked)."""
    override = os.environ.get("DISPATCHER_TRACES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "data" / "ami-traces"


@dataclass(frozen=True)
class TraceBlock:
    t: float
    conn: str
    kind: str  # CONNECT, RECV, SEND, NOTE, CLOSED
    text: str
    message: AMIMessage | None  # the AMI message of a RECV/SEND block (None for the banner)
    raw: bytes


@dataclass(frozen=True)
class Trace:
    name: str
    meta: dict[str, str]
    blocks: tuple[TraceBlock, ...]

    def received(self, conn: str | None = None) -> list[AMIMessage]:
        return [
            b.message
            for b in self.blocks
            if b.kind == "RECV" and b.message is not None and (conn is None or b.conn == conn)
        ]

    def events(self, conn: str | None = None) -> list[AMIMessage]:
        return [m for m in self.received(conn) if m.kind == "event"]

    def sent(self, conn: str | None = None) -> list[AMIMessage]:
        return [
            b.message
            for b in self.blocks
            if b.kind == "SEND" and b.message is not None and (conn is None or b.conn == conn)
        ]


def load_trace(name_or_path: str | Path) -> Trace:
    path = Path(name_or_path)
    if not path.suffix:
        path = traces_dir() / f"{name_or_path}.ami"
    data = path.read_bytes()
    meta: dict[str, str] = {}
    blocks: list[TraceBlock] = []
    header: re.Match[str] | None = None
    body: list[bytes] = []

    def flush() -> None:
        if header is None:
            return
        raw = b"".join(body)
        message = None
        if header["kind"] in ("RECV", "SEND") and raw.strip():
            decoder = FrameDecoder(expect_banner=False)
            found = list(decoder.feed(raw))
            message = found[0] if found else None
        blocks.append(
            TraceBlock(float(header["t"]), header["conn"], header["kind"], header["text"] or "",
                       message, raw)
        )

    for line in data.splitlines(keepends=True):
        if line.startswith(b"### "):
            text = line[4:].decode().rstrip("\n")
            match = _BLOCK.match(text)
            if match:
                flush()
                header, body = match, []
            elif text == "END":
                flush()
                header, body = None, []
            elif header is None and ":" in text:
                key, _, value = text.partition(":")
                meta[key.strip()] = value.strip()
            continue
        body.append(line)
    flush()
    return Trace(path.stem, meta, tuple(blocks))


def all_trace_names() -> list[str]:
    return sorted(p.stem for p in traces_dir().glob("*.ami"))
