"""``dispatcher trunk``: an operator pauses and resumes a trunk; the API shows it."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.cli.main import main
from dispatcher.config import Settings
from dispatcher.usecases import api_keys
from web import create_app


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session],
           monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("DISPATCHER_TRUNK_NAME", settings.trunk_name)
    monkeypatch.setenv("DISPATCHER_QUEUE_NAME", settings.queue_name)
    client = create_app(settings).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = (
        f"Bearer {api_keys.create_api_key(sessions, 'ops')[1]}")
    return client


def trunk(client: FlaskClient) -> dict[str, Any]:
    only: dict[str, Any]
    [only] = client.get("/v1/trunks").get_json()["data"]
    return only


def test_pause_holds_new_calls_in_line_and_resume_lets_them_go(
        client: FlaskClient, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trunk", "pause", settings.trunk_name]) == 0
    assert trunk(client)["paused"] is True
    call = client.post("/v1/calls", json={"to": "+989121231001"}).get_json()
    assert call["status"] == "queued"
    assert trunk(client)["calls_waiting"] == 1 and trunk(client)["lines_in_use"] == 0
    assert main(["trunk", "list"]) == 0
    assert f"{settings.trunk_name}: paused, 0/30 lines in use" in capsys.readouterr().out
    assert main(["trunk", "resume", settings.trunk_name]) == 0
    assert trunk(client)["paused"] is False
    # The next pump (here: the next submit) admits the waiting call first, then the new one.
    client.post("/v1/calls", json={"to": "+989121231002"})
    assert trunk(client)["calls_waiting"] == 0 and trunk(client)["lines_in_use"] == 2


def test_an_unknown_trunk_is_named_not_paused(settings: Settings,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    with pytest.raises(SystemExit, match="no trunk named 'nope'"):
        main(["trunk", "pause", "nope"])


def test_a_line_limit_shows_in_the_api_and_the_list_and_is_lifted_with_off(
        client: FlaskClient, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trunk", "limit", settings.trunk_name, "20"]) == 0
    assert (trunk(client)["lines_total"], trunk(client)["lines_limit"]) == (30, 20)
    assert main(["trunk", "list"]) == 0
    assert "0/30 (limited to 20) lines in use" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="between 1 and the 30 configured lines"):
        main(["trunk", "limit", settings.trunk_name, "31"])
    assert main(["trunk", "limit", settings.trunk_name, "off"]) == 0
    assert trunk(client)["lines_limit"] is None
