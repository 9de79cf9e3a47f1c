"""The resumable chunked contact upload: split a CSV or JSON-lines file on record boundaries,
number the rows as the server numbers them, send each chunk with an idempotency key, retry
what is worth retrying, and remember after each acknowledged chunk where to resume.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from dispatcher.cli.api_client import ApiClient, ApiError, ApiUnavailable, InputError, campaign_path

UPLOAD_TIMEOUT = 120.0
RETRIES = 4  # extra attempts for one chunk before the upload stops (and can be resumed)
BACKOFF = 0.5  # seconds before the first retry, doubled each time, unless Retry-After says
MAX_WAIT = 30.0
#: A record this long is almost surely an unclosed quote swallowing the rest of the file.
MAX_RECORD_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
COUNTS = ("received", "accepted", "duplicates", "rejected")


# --- chunked upload -------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """Consecutive records of the file, sent as one request and committed atomically."""

    body: bytes  # the CSV header (CSV only) and the records, byte for byte as in the file
    rows: int  # non-empty records
    first_line: int  # file line of the first record
    line_offset: int  # what the server adds to a line number within the chunk
    end_offset: int  # byte offset just past the chunk: where a resumed upload starts
    next_line: int  # file line number at end_offset


class _Lines:
    """Feeds a reader one physical line at a time and keeps the bytes it handed out, so that
    each parsed record can be sent exactly as written and resumed from a byte offset. (A text
    file's ``tell()`` is not available while it is being iterated.)"""

    def __init__(self, f: IO[bytes], offset: int, line: int) -> None:
        self._f, self.offset, self.line = f, offset, line
        self._raw: list[bytes] = []
        self._size = 0
        self._pending: deque[bytes] = deque()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if not self._pending:
            raw = self._f.readline(MAX_RECORD_BYTES + 1)
            if not raw:
                raise StopIteration
            # A line ends at \n, \r\n or a lone \r, as the server's text reading counts them.
            self._pending.extend(piece for piece in _LONE_CR.split(raw) if piece)
        raw = self._pending.popleft()
        self._size += len(raw)
        if self._size > MAX_RECORD_BYTES:
            raise InputError(f"line {self.line - len(self._raw)}: a record longer than "
                             f"{MAX_RECORD_BYTES} bytes (an unclosed quote?)")
        self._raw.append(raw)
        self.offset += len(raw)
        self.line += 1
        return raw.decode("utf-8-sig", errors="replace")  # the server judges the encoding

    def take(self) -> bytes:
        data = b"".join(self._raw)
        self._raw.clear()
        self._size = 0
        return data


def _records(lines: _Lines, fmt: str) -> Iterator[tuple[bytes, int, bool]]:
    """Each record as (its bytes, its first file line, whether it holds data). CSV records
    are cut by the csv module, so a quoted field may span lines; NDJSON is one per line."""
    if fmt == "ndjson":
        for text in lines:
            yield lines.take(), lines.line - 1, bool(text.strip())
        return
    reader = csv.reader(lines)
    while True:
        first = lines.line
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"line {first}: {exc}") from None
        yield lines.take(), first, bool(record)


def _csv_header(f: IO[bytes]) -> tuple[bytes, int, int, int]:
    """The header record without a BOM, its number of lines, and the offset and file line
    just after it."""
    lines = _Lines(f, 0, 1)
    for raw, first, has_data in _records(lines, "csv"):
        if has_data:
            return raw.removeprefix(BOM), lines.line - first, lines.offset, lines.line
    raise InputError("the file has no CSV header row")


def iter_chunks(path: Path, fmt: str, chunk_rows: int, offset: int = 0,
                line: int = 1) -> Iterator[Chunk]:
    """The file's chunks from ``offset`` (a record boundary at file line ``line``; 0 means
    the start). A chunk whose first record is file line L is numbered from
    ``line_offset = L - 1 - header lines``: the server counts the header as line 1 for CSV."""
    with open(path, "rb") as f:
        header, header_lines = b"", 0
        if fmt == "csv":
            header, header_lines, after, after_line = _csv_header(f)
            if offset == 0:
                offset, line = after, after_line
        f.seek(offset)
        lines = _Lines(f, offset, line)
        parts: list[bytes] = []
        rows, first = 0, line
        for raw, record_line, has_data in _records(lines, fmt):
            if not parts:
                first = record_line
            parts.append(raw)
            rows += has_data
            if rows >= chunk_rows:
                yield Chunk(header + b"".join(parts), rows, first, first - 1 - header_lines,
                            lines.offset, lines.line)
                parts, rows = [], 0
        if rows:  # a tail of blank lines only is not worth a request
            yield Chunk(header + b"".join(parts), rows, first, first - 1 - header_lines,
                        lines.offset, lines.line)


# --- resume state ---------------------------------------------------------------------------


def state_path(path: Path, campaign: str) -> Path:
    """In the current directory, like the rejects report: never beside the input, which may
    be a folder the user does not write to (or a repository)."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in campaign)
    return Path.cwd() / f"{path.name}.upload-{safe}.json"


@dataclass
class UploadState:
    """What the server has acknowledged, saved after every chunk so a rerun continues there."""

    campaign: str
    format: str
    size: int  # the file's size when the upload began: a changed file is not resumed
    offset: int = 0
    line: int = 1
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects: list[str] = field(default_factory=list)  # report URLs of chunks with rejects

    @classmethod
    def load(cls, path: Path) -> UploadState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"cannot use the resume state {path} ({exc}); delete it to "
                             "upload from the start (re-sent rows count as duplicates)") from None

    def save(self, path: Path) -> None:
        """Write then rename, so an interruption never leaves half a state file."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)

    def record(self, chunk: Chunk, answer: dict[str, Any], rejects_path: str) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + int(answer.get(name) or 0))
        if int(answer.get("rejected") or 0):
            self.rejects.append(str(answer.get("rejects_url") or rejects_path))
        self.offset, self.line = chunk.end_offset, chunk.next_line


def _wait(failure: ApiError | ApiUnavailable, attempt: int) -> float:
    backoff = BACKOFF * 2 ** attempt
    try:
        seconds = float(failure.retry_after) if failure.retry_after else backoff
    except ValueError:  # an HTTP date: not worth parsing for a wait of seconds
        seconds = backoff
    return min(seconds, MAX_WAIT)


def chunk_key(campaign: str, chunk: Chunk) -> str:
    """Names a chunk by its content and place, so a chunk whose answer was lost (the upload
    stopped while it was in flight) is answered from the server's record when it is sent
    again, instead of being stored twice and counted as duplicates."""
    digest = hashlib.sha256(f"{campaign}:{chunk.line_offset}:".encode() + chunk.body)
    return "chunk-" + digest.hexdigest()


def send_chunk(client: ApiClient, campaign: str, fmt: str, chunk: Chunk,
               on_retry: Callable[[Exception, float], None],
               sleep: Callable[[float], None]) -> dict[str, Any]:
    """POST one chunk, retrying connection errors, 5xx and 429: re-sending is safe because
    the server drops numbers the campaign already has."""
    attempt = 0
    while True:
        try:
            answer: dict[str, Any] = client.call(
                "POST", campaign_path(campaign, "contacts"), data=chunk.body,
                params={"line_offset": chunk.line_offset}, timeout=UPLOAD_TIMEOUT,
                headers={"Content-Type": CONTENT_TYPES[fmt],
                         "Idempotency-Key": chunk_key(campaign, chunk)})
            return answer
        except (ApiUnavailable, ApiError) as exc:
            refused = isinstance(exc, ApiError) and exc.status != 429
            if refused or attempt == RETRIES:
                raise
            delay = _wait(exc, attempt)
            on_retry(exc, delay)
            sleep(delay)
            attempt += 1


def upload(client: ApiClient, campaign: str, path: Path, state: UploadState, chunk_rows: int,
           on_chunk: Callable[[Chunk], None], on_retry: Callable[[Exception, float], None],
           sleep: Callable[[float], None]) -> UploadState:
    """Send the file from the saved position; the state file is rewritten after each chunk."""
    where = state_path(path, campaign)
    for chunk in iter_chunks(path, state.format, chunk_rows, state.offset, state.line):
        answer = send_chunk(client, campaign, state.format, chunk, on_retry, sleep)
        upload_id = quote(str(answer.get("upload_id", "")), safe="")
        state.record(chunk, answer, campaign_path(campaign, "uploads", upload_id, "rejects"))
        state.save(where)
        on_chunk(chunk)
    return state


def download_rejects(client: ApiClient, urls: list[str], dest: Path) -> None:
    """Merge the chunks' reject reports into one CSV with the ``line,reason`` header once."""
    tmp = dest.with_name(dest.name + ".part")
    with open(tmp, "wb") as out:
        for index, url in enumerate(urls):
            client.download(url, out, skip_header=index > 0)
    os.replace(tmp, dest)
