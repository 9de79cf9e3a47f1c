"""``dispatcher campaign``: flag parsing, the chunker, the resume state, and the command line
against a small real HTTP server on 127.0.0.1 that speaks just enough of the campaign API.

The server here numbers lines exactly as the contract says (CSV header = line 1 of a chunk),
independently of the client's code, so a numbering mistake in the chunker shows up as wrong
line numbers in what the server recorded.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dispatcher.cli import chunked_upload
from dispatcher.cli.api_client import InputError
from dispatcher.cli.campaign import build_parser, main
from dispatcher.cli.campaign_flags import create_body, parse_days, parse_retry, parse_window
from dispatcher.cli.campaign_render import summary_line
from dispatcher.cli.chunked_upload import UploadState, iter_chunks, state_path
from dispatcher.cli.main import build_parser as dispatcher_parser
from dispatcher.cli.main import main as dispatcher_main

KEY = "test-key"

# Lines: 1 header (after a BOM), 2-3 a quoted CRLF, 4 blank, 5, 6 doubled quotes, 7-9 quoted
# LFs, 10-11 a quoted lone CR (a line end to the server's universal newlines), 12 without a
# final newline.
CSV_TEXT = ('\ufeffto,name,note\r\n'
            '09121001001,Ali,"two\r\nlines"\r\n'
            '\r\n'
            '09121001002,Sara,plain\r\n'
            '09121001003,"Reza ""R""",x\r\n'
            '09121001004,Mina,"a\nb\nc"\n'
            '09121001005,Cr,"a\rb"\r\n'
            '09121001006,Omid,last')
CSV_LINES = [(2, "09121001001"), (5, "09121001002"), (6, "09121001003"), (7, "09121001004"),
             (10, "09121001005"), (12, "09121001006")]


EXPORT = ("line,to,state,outcome,attempts,last_call_id,last_attempt_at,attempt_outcomes\r\n"
          "2,+989121001001,done,answered,1,c1,2025-06-01T10:00:00Z,answered\r\n"
          '3,+989121002001,done,busy,3,c4,2025-06-01T10:30:00Z,"busy\nbusy\nbusy"\r\n')


def server_numbering(body: bytes, line_offset: int, fmt: str) -> list[tuple[int, str]]:
    """(file line, to) of each row, numbered the way the contract says the server does
    (reading the body as text with universal newlines, like web/campaigns.py)."""
    lines = list(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline=""))
    rows: list[tuple[int, str]] = []
    if fmt == "ndjson":
        for number, text in enumerate(lines, start=1):
            if text.strip():
                rows.append((line_offset + number, json.loads(text)["to"]))
        return rows
    reader = csv.reader(lines)
    header = next(reader)
    assert header[0] == "to", "every chunk starts with the header, without a BOM"
    previous_end = reader.line_num
    for record in reader:
        line, previous_end = line_offset + previous_end + 1, reader.line_num
        if record:
            rows.append((line, record[0]))
    return rows


# --- flags -> body --------------------------------------------------------------------------


def test_days_ranges_lists_and_wrapping() -> None:
    assert parse_days("sat-wed") == ["sat", "sun", "mon", "tue", "wed"]
    assert parse_days("wed,mon") == ["mon", "wed"]
    assert parse_days("thu-sat") == ["sat", "thu", "fri"]  # wraps past Friday, week order out
    assert parse_days("sat-mon,fri") == ["sat", "sun", "mon", "fri"]
    assert parse_days("all") == ["sat", "sun", "mon", "tue", "wed", "thu", "fri"]
    for bad in ("", "monday", "sat-", "xyz,mon"):
        with pytest.raises(Exception, match="bad days"):
            parse_days(bad)


def test_window_and_retry_flags() -> None:
    assert parse_window("sat-wed@9:00-17:30") == {
        "days": ["sat", "sun", "mon", "tue", "wed"], "start": "09:00", "end": "17:30"}
    assert parse_window("10:00-12:00")["days"] == list(parse_days("all"))
    assert parse_window("fri@22:00-24:00")["end"] == "24:00"
    assert parse_window("thu@22:00-02:00")["start"] == "22:00"  # spans midnight
    for bad in ("mon@9-17", "mon@24:00-25:00", "mon@09:00", "mon@09:60-10:00",
                "mon@00:00-24:01"):
        with pytest.raises(Exception, match="bad"):
            parse_window(bad)
    assert parse_retry("busy=3x:600") == ("busy", {"max_attempts": 3, "delay": 600})
    assert parse_retry("no_answer=2X:10m") == ("no-answer", {"max_attempts": 2, "delay": 600})
    assert parse_retry("failed=1x:1h")[1]["delay"] == 3600
    for bad in ("answered=1x:10", "busy=3x", "busy=x:10", "busy=2x:10d", "busy", "busy=2y:10"):
        with pytest.raises(Exception, match="bad retry"):
            parse_retry(bad)


def test_a_retry_count_without_its_x_is_refused_with_both_readings_spelt_out() -> None:
    """``busy=1:30s`` reads as one retry but would be one attempt in all: never guess."""
    with pytest.raises(Exception) as refused:
        parse_retry("congestion=1:30s")
    message = str(refused.value)
    assert "write congestion=1x:30s for 1 attempt(s) in all, the first call included" in message
    assert "congestion=2x:30s for 1 retry after it" in message


def test_create_body_merges_json_file_under_flags(tmp_path: Path) -> None:
    base = tmp_path / "body.json"
    base.write_text(json.dumps({
        "name": "from file", "cps": 1, "retry": {"busy": {"max_attempts": 1, "delay": 60},
                                                 "failed": {"max_attempts": 1, "delay": 5}},
        "variables": {"LANG": "fa", "GREETING": "hi"}, "dnc_lists": ["old"],
        "target": {"context": "c", "exten": "s", "priority": 1}}))
    args = build_parser().parse_args([
        "create", "--json", str(base), "--name", "June", "--cps", "2.5", "--max-lines", "10",
        "--caller-id", "+982112345678", "--retry", "busy=3x:10m", "--var", "LANG=en",
        "--var", "X=a=b", "--window", "sat-wed@09:00-17:00", "--window", "thu@10:00-12:00",
        "--dnc", "national", "--timezone", "Asia/Tehran", "--timeout", "30", "--priority", "7"])
    assert create_body(args) == {
        "name": "June", "cps": 2.5, "max_lines": 10, "caller_id": "+982112345678",
        "timeout": 30, "priority": 7, "timezone": "Asia/Tehran",
        "retry": {"busy": {"max_attempts": 3, "delay": 600},
                  "failed": {"max_attempts": 1, "delay": 5}},
        "variables": {"LANG": "en", "GREETING": "hi", "X": "a=b"},
        "windows": [{"days": ["sat", "sun", "mon", "tue", "wed"], "start": "09:00",
                     "end": "17:00"}, {"days": ["thu"], "start": "10:00", "end": "12:00"}],
        "dnc_lists": ["national"], "target": {"context": "c", "exten": "s", "priority": 1}}
    assert create_body(build_parser().parse_args(["create", "--name", "n"])) == {"name": "n"}


def test_argument_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DISPATCHER_API_KEY", raising=False)
    monkeypatch.delenv("DISPATCHER_API_URL", raising=False)
    for argv in (["create", "--name", "n"],  # no key anywhere
                 ["create", "--name", "n", "--window", "funday@09:00-10:00", "--api-key", KEY],
                 ["create", "--retry", "busy=x", "--api-key", KEY],
                 ["create", "--caller-id", "12ab", "--api-key", KEY],
                 ["--api-key", KEY, "list", "--api-url", "ftp://host"],
                 ["--api-key", KEY, "upload", "1", "f.csv", "--chunk-rows", "0"],
                 ["--api-key", KEY, "frobnicate"], []):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2, argv
    monkeypatch.setenv("DISPATCHER_API_KEY", KEY)
    missing = tmp_path / "missing.csv"
    assert main(["create"]) == 2  # no name: refused before any request
    assert main(["upload", "1", str(missing)]) == 2
    assert main(["upload", "1", str(tmp_path / "contacts.txt")]) == 2  # unknown format
    assert main(["create", "--json", str(missing)]) == 2
    assert "cannot read --json" in capsys.readouterr().err


def test_dispatcher_help_lists_campaign_and_dispatches(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert "campaign" in dispatcher_parser().format_help()
    with pytest.raises(SystemExit) as exited:
        dispatcher_main(["campaign", "upload", "--help"])
    assert exited.value.code == 0
    assert "--chunk-rows" in capsys.readouterr().out


# --- chunker and resume state ---------------------------------------------------------------


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 100])
def test_csv_chunks_keep_records_whole_and_number_lines_by_contract(
        tmp_path: Path, chunk_rows: int) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(CSV_TEXT.encode())
    data = path.read_bytes()
    chunks = list(iter_chunks(path, "csv", chunk_rows))
    assert [c.rows for c in chunks] == [min(chunk_rows, 6 - i) for i in range(0, 6, chunk_rows)]
    seen = [row for c in chunks for row in server_numbering(c.body, c.line_offset, "csv")]
    assert seen == CSV_LINES
    for c in chunks:
        assert c.body.startswith(b"to,name,note\r\n")
        # The chunk is the file's bytes verbatim, and ends where the next one starts.
        assert data.find(c.body[len(b"to,name,note\r\n"):]) >= 0
        assert data[c.end_offset:].lstrip(b"\r\n").startswith(b"0912") or c is chunks[-1]
        resumed = list(iter_chunks(path, "csv", chunk_rows, c.end_offset, c.next_line))
        assert resumed == chunks[chunks.index(c) + 1:]
    assert chunks[-1].end_offset == len(data)


def test_ndjson_chunks_number_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"to": "1"}\n\n{"to": "2"}\n{"to": "3", "variables": {"A": "b"}}\n\n')
    chunks = list(iter_chunks(path, "ndjson", 2))
    assert [(c.first_line, c.line_offset, c.rows) for c in chunks] == [(1, 0, 2), (4, 3, 1)]
    seen = [row for c in chunks for row in server_numbering(c.body, c.line_offset, "ndjson")]
    assert seen == [(1, "1"), (3, "2"), (4, "3")]
    assert list(iter_chunks(path, "ndjson", 2, chunks[0].end_offset, chunks[0].next_line)) \
        == chunks[1:]


def test_chunker_refuses_headerless_and_runaway_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "e.csv"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="no CSV header"):
        list(iter_chunks(empty, "csv", 10))
    monkeypatch.setattr(chunked_upload, "MAX_RECORD_BYTES", 100)
    runaway = tmp_path / "r.csv"
    runaway.write_text("to,name\n09121001001,ok\n09121001002,\"never closed\n" + "x\n" * 100)
    with pytest.raises(InputError, match="line 3: a record longer"):
        list(iter_chunks(runaway, "csv", 10))


def test_state_file_round_trip_and_damage(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    where = state_path(Path("elsewhere") / "c.csv", "a/b 7")
    assert where == tmp_path / "c.csv.upload-a_b_7.json"
    assert where.name == "c.csv.upload-a_b_7.json"
    assert UploadState.load(where) is None
    state = UploadState("a/b 7", "csv", 123, offset=40, line=5, received=3, accepted=2,
                        rejected=1, rejects=["/v1/x"])
    state.save(where)
    assert UploadState.load(where) == state
    assert not where.with_name(where.name + ".tmp").exists()
    where.write_text("{not json")
    with pytest.raises(InputError, match="delete it"):
        UploadState.load(where)


# --- against a real HTTP server -------------------------------------------------------------


@dataclass
class Api:
    """The campaign API's state as far as these tests need it."""

    url: str = ""
    fail: dict[int, int] = field(default_factory=dict)  # chunk's first line -> 503s to give
    requests: list[tuple[int, list[int]]] = field(default_factory=list)  # acked: (offset, lines)
    failed: list[int] = field(default_factory=list)  # first lines answered with 503
    numbers: set[str] = field(default_factory=set)
    rejects: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    """Answers from ``api``, set on a subclass per test."""

    api: Api

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, **extra: str) -> None:
        error = {"code": code, "message": message, **extra}
        self._send(status, {"error": error}, {"Retry-After": "0"} if status >= 500 else {})

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {KEY}":
            return True
        self._error(401, "unauthorized", "missing or unknown API key")
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if not self._authorized():
            return
        path = urlsplit(self.path).path
        if match := re.fullmatch(r"/v1/campaigns/7/uploads/(\w+)/rejects", path):
            text = "line,reason\r\n" + "".join(
                f'{line},"{reason}"\r\n' for line, reason in self.api.rejects[match[1]])
            self._send(200, text.encode(), {"Content-Type": "text/csv"})
        elif path == "/v1/campaigns/7":
            self._send(200, self.api.statuses.pop(0) if len(self.api.statuses) > 1 else
                       self.api.statuses[0])
        elif path == "/v1/campaigns/7/export":
            self._send(200, EXPORT.encode(), {"Content-Type": "text/csv"})
        elif path == "/v1/campaigns":
            second = "cursor=p2" in self.path
            self._send(200, {"data": [{"id": "8" if second else "7", "status": "draft",
                                       "name": "n", "progress": 0, "contacts": {"total": 3}}],
                             "next_cursor": None if second else "p2"})
        else:
            self._error(404, "not-found", "no such campaign")

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        if not self._authorized():
            return
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/v1/campaigns" and json.loads(body).get("cps", 1) <= 0:
            self._error(422, "validation-failed", "cps must be positive", field="cps")
        elif url.path == "/v1/campaigns":
            self._send(201, {**json.loads(body), "id": "7", "status": "draft"})
        elif url.path == "/v1/campaigns/7/pause":
            self._send(200, {"id": "7", "status": "paused"})
        elif url.path == "/v1/campaigns/7/start":
            self._error(409, "conflict", "a completed campaign cannot start")
        elif url.path == "/v1/campaigns/7/contacts":
            self._contacts(body, int(parse_qs(url.query)["line_offset"][0]))
        else:
            self._error(404, "not-found", "no such campaign")

    def _contacts(self, body: bytes, line_offset: int) -> None:
        fmt = "ndjson" if "ndjson" in self.headers["Content-Type"] else "csv"
        rows = server_numbering(body, line_offset, fmt)
        first = rows[0][0]
        if self.api.fail.get(first):
            self.api.fail[first] -= 1
            self.api.failed.append(first)
            self._error(503, "database-unavailable", "the database is unavailable")
            return
        upload_id = f"u{len(self.api.requests)}"
        self.api.requests.append((line_offset, [line for line, _ in rows]))
        answer = {"upload_id": upload_id, "received": len(rows), "accepted": 0,
                  "duplicates": 0, "rejected": 0,
                  "rejects_url": f"/v1/campaigns/7/uploads/{upload_id}/rejects"}
        self.api.rejects[upload_id] = []
        for line, to in rows:
            if not re.fullmatch(r"09\d{9}", to):
                self.api.rejects[upload_id].append((line, "to is not a valid phone number"))
                answer["rejected"] += 1
            elif to in self.api.numbers:
                answer["duplicates"] += 1
            else:
                self.api.numbers.add(to)
                answer["accepted"] += 1
        self._send(200, answer)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    state = Api()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Bound", (Handler,), {"api": state}))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("DISPATCHER_API_URL", state.url)
    monkeypatch.setenv("DISPATCHER_API_KEY", KEY)
    yield state
    server.shutdown()
    server.server_close()


def _contacts_file(tmp_path: Path) -> Path:
    rows = [f"0912100{1000 + n}" for n in range(1, 11)]
    rows[4] = "12"  # line 6: rejected
    rows[7] = rows[1]  # line 9: a duplicate of line 3
    rows[9] = "+98 912"  # line 11: rejected, in another chunk
    path = tmp_path / "contacts.csv"
    path.write_text("to,name\n" + "".join(f"{to},n{n}\n" for n, to in enumerate(rows)))
    return path


def test_upload_retries_a_503_then_resumes_after_giving_up(
        api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # reports and progress go here, not beside the input
    path = _contacts_file(tmp_path)
    state_file = state_path(path, "7")
    assert state_file.parent == work
    api.fail = {5: 1, 8: 99}  # chunk 2 fails once; chunk 3 (lines 8-10) keeps failing
    assert main(["upload", "7", str(path), "--chunk-rows", "3"]) == 3
    err = capsys.readouterr().err
    assert "HTTP 503" in err and "retry after 0 s" in err and "rerun" in err
    assert api.failed == [5] + [8] * (chunked_upload.RETRIES + 1)
    assert api.requests == [(0, [2, 3, 4]), (3, [5, 6, 7])]
    saved = UploadState.load(state_file)
    assert saved is not None and (saved.line, saved.accepted, saved.rejected) == (8, 5, 1)
    assert saved.rejects == ["/v1/campaigns/7/uploads/u1/rejects"]
    assert saved.offset == len("".join(path.read_text().splitlines(keepends=True)[:7]))

    api.fail = {}
    assert main(["upload", "7", str(path), "--chunk-rows", "2"]) == 0
    err = capsys.readouterr().err
    assert "resuming the upload" in err and "at line 8" in err
    assert api.requests[2:] == [(6, [8, 9]), (8, [10, 11])]  # nothing acknowledged re-sent
    assert "10 rows received, 7 accepted, 1 duplicates, 2 rejected" in err
    assert not state_file.exists()
    rejects = work / "contacts.csv.rejects.csv"
    assert not path.with_name("contacts.csv.rejects.csv").exists()
    assert rejects.read_bytes() == (b'line,reason\r\n6,"to is not a valid phone number"\r\n'
                                    b'11,"to is not a valid phone number"\r\n')
    assert "contacts.csv.rejects.csv" in err


def test_api_refusals_exit_1_with_message_and_field(
        api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create", "--name", "June", "--cps", "-1"]) == 1
    assert capsys.readouterr().err.strip() == "error: cps must be positive (field: cps)"
    assert main(["start", "7"]) == 1
    assert "error: a completed campaign cannot start" in capsys.readouterr().err
    assert main(["status", "7", "--api-key", "wrong"]) == 1
    assert "error: missing or unknown API key" in capsys.readouterr().err


def test_create_pause_list_export_print_what_scripts_need(
        api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create", "--name", "June", "--retry", "busy=2x:60", "--window",
                 "sat-wed@09:00-17:00"]) == 0
    out, err = capsys.readouterr()
    assert out == "7\n"
    assert err.startswith("created campaign 7 'June' (draft): 1 window(s), retry busy 2x/60s")
    assert main(["pause", "7"]) == 0
    assert capsys.readouterr().out == "paused\n"
    assert main(["list"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["7", "8"]
    dest = tmp_path / "out.csv"
    assert main(["export", "7", str(dest)]) == 0
    assert capsys.readouterr().out == "2\n"  # records, not physical lines
    assert dest.read_bytes() == EXPORT.encode()
    assert not dest.with_name("out.csv.part").exists()


def test_a_campaign_that_is_not_dialling_says_why() -> None:
    c = {"id": "7", "name": "June", "status": "running", "progress": 0.4,
         "contacts": {"total": 10, "pending": 6}, "calls": {}, "outcomes": {},
         "rate_per_minute": 0, "eta_seconds": 54000,
         "activity": {"state": "waiting-for-window",
                      "reason": "waiting for window (opens Sat 09:00 Asia/Tehran)",
                      "until": "2026-06-06T05:30:00+00:00"}}
    assert summary_line(c).startswith(
        "running: waiting for window (opens Sat 09:00 Asia/Tehran)  40.0% of 10")
    assert "ETA 15h00m" in summary_line(c)
    dialing = {**c, "activity": {"state": "dialing", "reason": "dialing", "until": None}}
    assert summary_line(dialing).startswith("running  40.0%")


def test_status_follow_without_a_terminal_prints_a_line_per_poll(
        api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"id": "7", "name": "June", "contacts": {"total": 10, "pending": 10},
            "calls": {}, "outcomes": {}, "rate_per_minute": 0, "eta_seconds": None}
    api.statuses = [{**base, "status": "running", "progress": 0.25, "eta_seconds": 90,
                     "calls": {"ringing": 2}, "rate_per_minute": 12.5},
                    {**base, "status": "paused", "progress": 0.5},
                    {**base, "status": "completed", "progress": 1.0,
                     "outcomes": {"answered": 9, "busy": 1}}]
    assert main(["status", "7", "--follow", "--interval", "0.01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["running", "25.0%"], ["paused", "50.0%"], ["completed", "100.0%"]]
    assert "calls: ringing 2" in lines[0] and "12.5/min  ETA 1m30s" in lines[0]
    assert "outcomes: answered 9, busy 1" in lines[2]
    assert main(["status", "7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("campaign 7  'June'  completed\n") and "pending 10" in out
    assert summary_line(api.statuses[0]).startswith("completed  100.0% of 10")


def test_unreachable_api_exits_3(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DISPATCHER_API_KEY", KEY)
    assert main(["status", "7", "--api-url", f"http://127.0.0.1:{port}"]) == 3
    assert f"cannot reach the API at http://127.0.0.1:{port}" in capsys.readouterr().err
