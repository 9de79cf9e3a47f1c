"""The campaign and do-not-call HTTP API against real PostgreSQL and Redis (Flask's client)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.tables import CallRow
from dispatcher.config import Settings
from web import create_app


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    yield create_app(replace(settings, number_cap=1, number_cap_window=3600,
                             max_upload_bytes=4096))


def create(client: FlaskClient, **body: object) -> dict[str, Any]:
    response = client.post("/v1/campaigns", json={"name": "reminders", **body})
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def upload(client: FlaskClient, cid: str, text: str, content_type: str = "text/csv",
           **params: str) -> dict[str, Any]:
    response = client.post(f"/v1/campaigns/{cid}/contacts", data=text.encode(),
                           content_type=content_type, query_string=params)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


class TestCreate:
    def test_defaults_are_filled_in_and_shown(self, client: FlaskClient,
                                              settings: Settings) -> None:
        body = create(client, retry={"busy": {"max_attempts": 3, "delay": 600}},
                      windows=[{"days": ["sat", "sun"], "start": "09:00", "end": "24:00"}])
        assert body["status"] == "draft" and body["trunk"] == settings.trunk_name
        assert body["max_lines"] == settings.trunk_lines and body["timezone"] == "Asia/Tehran"
        assert body["windows"] == [{"days": ["sat", "sun"], "start": "09:00", "end": "24:00"}]
        assert body["contacts"]["total"] == 0 and body["progress"] == 0.0
        assert body["activity"] == {"state": "draft", "reason": "not started", "until": None}
        assert client.get(f"/v1/campaigns/{body['id']}").get_json()["id"] == body["id"]

    @pytest.mark.parametrize(("field", "value"), [
        ("max_lines", 31), ("max_lines", 0), ("timezone", "Mars/Olympus"),
        ("dnc_lists", ["nobody-made-this"]), ("caller_id", "12\r\nAction: Hangup"),
        ("target", {"context": "x\r\nAction: Command"}), ("variables", {"A": "1\n2"}),
        ("retry", {"invalid-number": {"max_attempts": 2}}), ("trunk", "elsewhere"),
        ("windows", [{"days": ["someday"], "start": "09:00", "end": "10:00"}]),
    ])
    def test_bad_fields_are_refused_by_name_and_create_nothing(
            self, client: FlaskClient, field: str, value: object) -> None:
        response = client.post("/v1/campaigns", json={"name": "x", field: value})
        assert response.status_code == 422
        assert response.get_json()["error"]["field"].startswith(field)
        assert client.get("/v1/campaigns").get_json()["data"] == []


class TestUploads:
    def test_rows_are_numbered_as_file_lines_and_the_report_is_downloadable(
            self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        # The second chunk of a file whose first data row is line 1002.
        result = upload(client, cid, "to,name\n09121000001,Ali\nnot-a-number,Bad\n",
                        line_offset="1000")
        assert (result["accepted"], result["rejected"]) == (1, 1)
        report = client.get(result["rejects_url"])
        assert report.mimetype == "text/csv"
        rows = list(csv.reader(report.text.splitlines()))
        assert rows[0] == ["line", "reason"] and rows[1][0] == "1003"
        assert rows[1][1].startswith("to may contain only digits")

    def test_json_lines_are_accepted_too(self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        result = upload(client, cid, '{"to": "09121000001", "timezone": "Asia/Dubai"}\n',
                        content_type="application/x-ndjson")
        assert result["accepted"] == 1
        [contact] = client.get(f"/v1/campaigns/{cid}/contacts").get_json()["data"]
        assert contact["to"] == "+989121000001" and contact["timezone"] == "Asia/Dubai"

    def test_a_csv_without_a_to_column_is_refused_whole(self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        response = client.post(f"/v1/campaigns/{cid}/contacts", data=b"phone\n0912\n",
                               content_type="text/csv")
        assert response.status_code == 422
        assert client.get(f"/v1/campaigns/{cid}/uploads").get_json()["data"] == []

    def test_other_content_types_and_unknown_campaigns(self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        assert client.post(f"/v1/campaigns/{cid}/contacts", data=b"to\n",
                           content_type="text/plain").status_code == 415
        assert client.post(f"/v1/campaigns/{uuid.uuid4()}/contacts", data=b"to\n",
                           content_type="text/csv").status_code == 404

    def test_an_upload_over_the_size_limit_is_refused_whole(self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        body = "to\n" + "".join(f"0912{i:07d}\n" for i in range(500))  # 6 kB > 4 kB
        response = client.post(f"/v1/campaigns/{cid}/contacts", data=body.encode(),
                               content_type="text/csv")
        assert response.status_code == 413
        assert "limit of 4,096 bytes" in response.get_json()["error"]["message"]
        assert client.get(f"/v1/campaigns/{cid}").get_json()["contacts"]["total"] == 0

    def test_a_canceled_campaign_takes_no_more_contacts(self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        assert client.post(f"/v1/campaigns/{cid}/cancel").status_code == 200
        response = client.post(f"/v1/campaigns/{cid}/contacts", data=b"to\n09121000001\n",
                               content_type="text/csv")
        assert response.status_code == 409


class TestLifecycle:
    def test_only_the_allowed_transitions_happen(self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        assert client.post(f"/v1/campaigns/{cid}/pause").status_code == 409
        assert client.post(f"/v1/campaigns/{cid}/resume").status_code == 409
        assert client.post(f"/v1/campaigns/{cid}/start").get_json()["status"] == "running"
        assert client.post(f"/v1/campaigns/{cid}/start").status_code == 409
        assert client.post(f"/v1/campaigns/{cid}/pause").get_json()["status"] == "paused"
        assert client.post(f"/v1/campaigns/{cid}/resume").get_json()["status"] == "running"
        assert client.post(f"/v1/campaigns/{cid}/cancel").get_json()["status"] == "canceled"
        assert client.post(f"/v1/campaigns/{cid}/cancel").status_code == 409
        assert client.get(f"/v1/campaigns/{cid}/callbacks").get_json()["data"] == []  # no URL
        history = client.get(f"/v1/campaigns/{cid}/history").get_json()["data"]
        assert [h["action"] for h in history] == ["create", "start", "pause", "resume",
                                                  "cancel"]
        creator = client.get(f"/v1/campaigns/{cid}").get_json()["created_by"]
        assert creator and {h["by"] for h in history} == {creator}

    def test_settings_change_while_running_and_not_once_over(self,
                                                             client: FlaskClient) -> None:
        cid = create(client, max_lines=10)["id"]
        client.post(f"/v1/campaigns/{cid}/start")
        changed = client.patch(f"/v1/campaigns/{cid}", json={
            "max_lines": 3, "windows": [{"days": ["sat"], "start": "09:00", "end": "12:00"}],
            "retry": {"busy": {"max_attempts": 2, "delay": 60}}})
        assert changed.status_code == 200, changed.get_json()
        body = changed.get_json()
        assert body["max_lines"] == 3 and body["windows"][0]["days"] == ["sat"]
        assert body["retry"] == {"busy": {"max_attempts": 2, "delay": 60}}
        for bad in ({"trunk": "other"}, {"max_lines": 99}, {}, {"dnc_lists": ["none"]},
                    {"name": None}):
            response = client.patch(f"/v1/campaigns/{cid}", json=bad)
            assert response.status_code == 422, (bad, response.get_json())
        client.post(f"/v1/campaigns/{cid}/cancel")
        assert client.patch(f"/v1/campaigns/{cid}", json={"max_lines": 4}).status_code == 409
        [update] = [h for h in client.get(f"/v1/campaigns/{cid}/history").get_json()["data"]
                    if h["action"] == "update"]
        assert update["detail"] == {"changed": ["max_lines", "retry", "windows"]}

    def test_lists_filter_by_status_and_page(self, client: FlaskClient) -> None:
        ids = [create(client, name=f"c{i}")["id"] for i in range(3)]
        client.post(f"/v1/campaigns/{ids[0]}/start")
        running = client.get("/v1/campaigns", query_string={"status": "running"}).get_json()
        assert [c["id"] for c in running["data"]] == [ids[0]]
        first = client.get("/v1/campaigns", query_string={"limit": "2"}).get_json()
        second = client.get("/v1/campaigns", query_string={
            "limit": "2", "cursor": first["next_cursor"]}).get_json()
        assert [c["id"] for c in first["data"] + second["data"]] == ids[::-1]


class TestContactsAndExport:
    def test_filters_pagination_and_export(self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        upload(client, cid, "to\n" + "".join(f"0912100000{i}\n" for i in range(1, 8)))
        page = client.get(f"/v1/campaigns/{cid}/contacts", query_string={"limit": "3"}).get_json()
        rest = client.get(f"/v1/campaigns/{cid}/contacts",
                          query_string={"limit": "10", "cursor": page["next_cursor"]}).get_json()
        assert len(page["data"]) == 3 and len(rest["data"]) == 4 and not rest["next_cursor"]
        one = client.get(f"/v1/campaigns/{cid}/contacts",
                         query_string={"to": "0912 100 0003"}).get_json()["data"]
        assert [c["line"] for c in one] == [4]
        assert client.get(f"/v1/campaigns/{cid}/contacts",
                          query_string={"state": "done"}).get_json()["data"] == []
        assert client.get(f"/v1/campaigns/{cid}/contacts",
                          query_string={"state": "nonsense"}).status_code == 422
        second = upload(client, cid, "to\n09122000001\n")  # another file: its own line 2
        export = client.get(f"/v1/campaigns/{cid}/export")
        table = list(csv.DictReader(export.text.splitlines()))
        assert [r["line"] for r in table] == [str(n) for n in range(2, 9)] + ["2"]
        assert {r["state"] for r in table} == {"pending"}
        first_upload, second_upload = table[0]["upload"], table[-1]["upload"]
        assert first_upload and second_upload == second["upload_id"] != first_upload
        assert {r["upload"] for r in table[:-1]} == {first_upload}
        contacts = client.get(f"/v1/campaigns/{cid}/contacts",
                              query_string={"limit": "20"}).get_json()["data"]
        assert contacts[-1]["upload_id"] == second["upload_id"]


class TestDncLists:
    def test_numbers_are_stored_in_e164_whatever_the_spelling(self,
                                                             client: FlaskClient) -> None:
        assert client.post("/v1/dnc-lists", json={"name": "complaints"}).status_code == 201
        assert client.post("/v1/dnc-lists", json={"name": "complaints"}).status_code == 409
        added = client.post("/v1/dnc-lists/complaints/numbers", json={
            "numbers": ["0912 100 0001", "+989121000001", "nonsense"]}).get_json()
        assert added["added"] == 1 and added["invalid"][0]["index"] == 2
        found = client.get("/v1/dnc-lists/complaints/numbers",
                           query_string={"number": "09121000001"}).get_json()["data"]
        assert found == ["+989121000001"]
        [listed] = client.get("/v1/dnc-lists").get_json()["data"]
        assert (listed["name"], listed["numbers"]) == ("complaints", 1)
        assert client.delete("/v1/dnc-lists/complaints/numbers/09121000001").status_code == 204
        assert client.delete("/v1/dnc-lists/complaints/numbers/09121000001").status_code == 404
        assert client.get("/v1/dnc-lists/nope%00/numbers").status_code == 404


class TestNumberCap:
    def test_an_api_call_to_a_number_called_too_often_is_refused(
            self, client: FlaskClient, sessions: sessionmaker[Session]) -> None:
        first = client.post("/v1/calls", json={"to": "09121000001"})
        assert first.status_code == 202
        with sessions.begin() as session:  # a worker dialled it
            session.execute(update(CallRow).values(claimed_at=datetime.now(tz=UTC),
                                                   status="completed"))
        again = client.post("/v1/calls", json={"to": "+98 912 100 0001"})
        assert again.status_code == 429 and again.get_json()["error"]["field"] == "to"
        assert client.post("/v1/calls", json={"to": "09121000002"}).status_code == 202


def rejects(client: FlaskClient, result: dict[str, Any]) -> dict[str, str]:
    """The upload's rejects report as {line: reason}."""
    rows = list(csv.reader(client.get(result["rejects_url"]).text.splitlines()))
    assert rows[0] == ["line", "reason"]
    return {line: reason for line, reason in rows[1:]}


class TestDialplanGuards:
    """Uploads and campaigns follow the same rules as single calls: numbers the dialplan would
    not dial and variable names it (or Asterisk) reads are refused, row by row or whole."""

    def test_rows_the_dialplan_would_not_dial_are_rejected_with_the_reason(
            self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        result = upload(client, cid, "to\n09121000001\n+98211234\n+982121234\n")
        assert (result["accepted"], result["rejected"]) == (1, 2)
        reasons = rejects(client, result)
        assert set(reasons) == {"3", "4"}
        assert "national form 0211234 matches none of ASTERISK_DIAL_PATTERNS" in reasons["3"]
        assert "national form 02121234 matches none of ASTERISK_DIAL_PATTERNS" in reasons["4"]
        [contact] = client.get(f"/v1/campaigns/{cid}/contacts").get_json()["data"]
        assert contact["to"] == "+989121000001"

    def test_json_lines_too(self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        result = upload(client, cid, '{"to": "+98211234"}\n{"to": "09121000001"}\n',
                        content_type="application/x-ndjson")
        assert (result["accepted"], result["rejected"]) == (1, 1)
        assert "ASTERISK_DIAL_PATTERNS" in rejects(client, result)["1"]

    def test_patterns_that_admit_them_let_them_through(self, settings: Settings,
                                                       sessions: sessionmaker[Session]) -> None:
        from dispatcher.usecases import api_keys
        app = create_app(replace(settings, dial_patterns="_0[1-9]XXXXXXXXX,_021XXXX!"))
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = \
            f"Bearer {api_keys.create_api_key(sessions, 'tests')[1]}"
        cid = create(client)["id"]
        result = upload(client, cid, "to\n09121000001\n+98211234\n+982121234\n")
        assert (result["accepted"], result["rejected"]) == (3, 0)

    @pytest.mark.parametrize("name", ["TRUNK_LINES", "__trunk_lines", "__TRANSFER_CONTEXT",
                                      "LIMIT_WARNING_FILE", "_CDR_PROP"])
    def test_a_reserved_variable_column_refuses_the_upload_whole(
            self, client: FlaskClient, name: str) -> None:
        cid = create(client)["id"]
        response = client.post(f"/v1/campaigns/{cid}/contacts",
                               data=f"to,{name}\n09121000001,9999\n".encode(),
                               content_type="text/csv")
        assert response.status_code == 422
        assert repr(name) in response.get_json()["error"]["message"]
        assert "reserved" in response.get_json()["error"]["message"]
        assert client.get(f"/v1/campaigns/{cid}").get_json()["contacts"]["total"] == 0

    def test_a_reserved_variable_in_a_json_line_rejects_that_row(
            self, client: FlaskClient) -> None:
        cid = create(client)["id"]
        text = ('{"to": "09121000001", "variables": {"__max_call_seconds": "99999"}}\n'
                '{"to": "09121000002", "variables": {"ORDER": "7"}}\n')
        result = upload(client, cid, text, content_type="application/x-ndjson")
        assert (result["accepted"], result["rejected"]) == (1, 1)
        assert "'__max_call_seconds' is reserved" in rejects(client, result)["1"]

    @pytest.mark.parametrize("name", ["TRUNK_LINES", "__OUTBOUND_GROUP", "dynamic_features"])
    def test_a_campaign_with_a_reserved_variable_is_refused(self, client: FlaskClient,
                                                           name: str) -> None:
        response = client.post("/v1/campaigns", json={"name": "x", "variables": {name: "1"}})
        assert response.status_code == 422
        assert response.get_json()["error"]["field"] == f"variables.{name}"
        assert client.get("/v1/campaigns").get_json()["data"] == []
        cid = create(client, variables={"ORDER": "7"})["id"]
        response = client.patch(f"/v1/campaigns/{cid}", json={"variables": {name: "1"}})
        assert response.status_code == 422
        assert client.get(f"/v1/campaigns/{cid}").get_json()["variables"] == {"ORDER": "7"}
