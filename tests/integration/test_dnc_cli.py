"""``dispatcher dnc``: an operator keeps do-not-call lists from the command line, against the
real API served on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import WSGIRequestHandler, make_server

from dispatcher.cli.main import main
from dispatcher.usecases import api_keys


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The command's own output is what these tests read."""


@pytest.fixture
def api(app: Flask, sessions: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("DISPATCHER_API_URL", url)
    monkeypatch.setenv("DISPATCHER_API_KEY", api_keys.create_api_key(sessions, "dnc-cli")[1])
    yield url
    server.shutdown()
    thread.join(timeout=5)


def test_a_list_is_created_filled_checked_and_trimmed(
        api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dnc", "create", "complaints", "--description", "asked not to be called"]) == 0
    assert main(["dnc", "add", "complaints", "0912 123 4567", "+989121234568"]) == 0
    assert "2 number(s) added" in capsys.readouterr().err
    assert main(["dnc", "list", "complaints", "--check", "09121234567"]) == 0
    assert capsys.readouterr().out == "listed\n"
    assert main(["dnc", "remove", "complaints", "+989121234567"]) == 0
    assert main(["dnc", "list", "complaints", "--check", "+989121234567"]) == 1
    capsys.readouterr()
    assert main(["dnc", "list"]) == 0
    out = capsys.readouterr().out
    assert "complaints" in out and " 1  asked not to be called" in out


def test_an_import_reads_a_csv_column_and_names_the_lines_it_could_not_read(
        api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dnc", "create", "imported"]) == 0
    rows = ["name,number"] + [f"c{i},0912{i:07d}" for i in range(1, 1201)]
    rows[5] = "bad,not-a-number"
    rows[9] = "long," + "1" * 40
    source = tmp_path / "blocked.csv"
    source.write_text("\n".join(rows) + "\n")
    capsys.readouterr()
    assert main(["dnc", "import", "imported", str(source)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "1198\n"
    assert "line 6: 'not-a-number'" in captured.err and "line 10:" in captured.err
    assert main(["dnc", "import", "imported", str(source)]) == 0  # a rerun adds nothing
    assert capsys.readouterr().out == "0\n"
    assert main(["dnc", "list", "imported"]) == 0
    numbers = capsys.readouterr().out.split()
    assert len(numbers) == 1198 and numbers == sorted(numbers) and numbers[0].startswith("+98")


def test_an_unknown_list_is_a_refusal_not_a_traceback(
        api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dnc", "add", "nope", "09121234567"]) == 1
    assert capsys.readouterr().err.strip() == "error: no such do-not-call list"
