"""AMI injection through campaigns: hostile campaign fields and CSV/JSON-lines uploads.

Every hostile value is either refused (422/400 with the error body, nothing written, or the row
named in the reject report) or stored; then every stored contact is dialled for real through a
worker AMI session, behind a loopback relay that keeps each byte the worker writes. The stream
must hold only our Login and one Originate per call, each exactly as built from its row.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.ami.manager import WorkerAMISession
from dispatcher.adapters.ami.protocol import serialize_action
from dispatcher.adapters.db.tables import CallRow
from dispatcher.config import Settings
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import load_trunks
from dispatcher.usecases.dial_call import OriginateTarget, build_originate, dial_call
from dispatcher.usecases.hopper import Hopper
from pbxsim import PBXSimulator
from tests.support.amirelay import RecordingRelay
from tests.support.databases import count
from tests.support.hostile import HOSTILE, MARK, ORIGINATE_HEADERS, assert_error_body, messages

TARGET = OriginateTarget()
STRINGS = [v for v in HOSTILE if isinstance(v, str)]


def dial_everything(sessions: sessionmaker[Session], settings: Settings,
                    ami: WorkerAMISession, relay: RecordingRelay, sim: PBXSimulator) -> int:
    """Feed every running campaign to the queue and dial each call, checking each on the wire;
    each dialled call is then ended (as the event consumer would) so the hopper moves on."""
    hopper = Hopper(sessions, load_trunks(settings), NumberPolicy())
    dialled = 0
    while hopper.run(None, datetime.now(tz=UTC)).queued:
        with sessions() as session:
            calls = list(session.scalars(select(CallRow).where(CallRow.status == "queued")))
        for call in calls:
            dial_and_check(sessions, call.id, ami, relay)
        with sessions.begin() as session:
            session.execute(update(CallRow).where(CallRow.status == "initiated")
                            .values(status="completed", outcome="answered",
                                    ended_at=datetime.now(tz=UTC)))
        dialled += len(calls)
    written = relay.data()
    stream = messages(written)
    assert b"".join(serialize_action(m.items) for m in stream) == written
    assert [m.get("Action") for m in stream] == ["Login"] + ["Originate"] * dialled
    assert MARK.encode() not in written
    assert MARK not in json.dumps(sim.actions)
    return dialled


def dial_and_check(sessions: sessionmaker[Session], call_id: uuid.UUID,
                   ami: WorkerAMISession, relay: RecordingRelay) -> None:
    mark = len(relay.data())
    assert dial_call(sessions, call_id, lambda _t: ami, TARGET) == "dialed"
    with sessions() as session:
        row = session.get(CallRow, call_id)
    assert row is not None and row.attempt_id is not None
    expected = build_originate(row, row.attempt_id, TARGET).headers()
    written = relay.data()[mark:]
    [message] = messages(written)
    assert list(message.items) == expected and written == serialize_action(expected)
    assert {name for name, _ in expected} <= set(ORIGINATE_HEADERS)
    assert re.fullmatch(r"PJSIP/[0-9]{4,15}@carrier-trunk", dict(expected)["Channel"])


def try_create(client: FlaskClient, sessions: sessionmaker[Session],
               body: dict[str, Any]) -> str | None:
    before = count(sessions, "SELECT count(*) FROM campaigns")
    response = client.post("/v1/campaigns", data=json.dumps(body),
                           content_type="application/json")
    if 400 <= response.status_code < 500:
        assert_error_body(response)
        assert count(sessions, "SELECT count(*) FROM campaigns") == before
        return None
    assert response.status_code == 201, response.data
    return str(response.get_json()["id"])


def start_with_one_contact(client: FlaskClient, cid: str, number: str) -> None:
    response = client.post(f"/v1/campaigns/{cid}/contacts", data=f"to\n{number}\n".encode(),
                           content_type="text/csv")
    assert response.get_json()["accepted"] == 1
    assert client.post(f"/v1/campaigns/{cid}/start").status_code == 200


def test_hostile_campaign_fields_are_refused_or_stay_inside_their_headers(
        client: FlaskClient, sessions: sessionmaker[Session], settings: Settings,
        ami: WorkerAMISession, relay: RecordingRelay, sim: PBXSimulator) -> None:
    fields: list[tuple[str, Any]] = []
    for value in HOSTILE:
        fields += [("name", value), ("caller_id", value), ("timezone", value),
                   ("target", {"context": value}), ("target", {"context": "x", "exten": value}),
                   ("variables", {"X": value}), ("dnc_lists", [value]),
                   ("windows", [{"days": ["sat"], "start": value, "end": "10:00"}])]
    for value in STRINGS:
        fields.append(("variables", {value: "v"}))
    accepted: dict[str, list[Any]] = {}
    for index, (name, value) in enumerate(fields):
        cid = try_create(client, sessions, {"name": "c", name: value})
        if cid is None:
            continue
        accepted.setdefault(name, []).append(value)
        start_with_one_contact(client, cid, f"0912{index:03d}1{index:03d}")
    # What got through is harmless where it ends up (a name is never sent to the PBX).
    assert all(v is None or re.fullmatch(r"\+?[0-9]{2,15}", v)
               for v in accepted.get("caller_id", []))
    assert all(re.fullmatch(r"[A-Za-z0-9_\-]{1,79}", t["context"])
               for t in accepted.get("target", []))
    assert dial_everything(sessions, settings, ami, relay, sim) == sum(map(len,
                                                                           accepted.values()))


def test_hostile_uploads_are_rejected_by_row_or_dialled_safely(
        client: FlaskClient, sessions: sessionmaker[Session], settings: Settings,
        ami: WorkerAMISession, relay: RecordingRelay, sim: PBXSimulator) -> None:
    cid = try_create(client, sessions, {"name": "uploads"})
    assert cid is not None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["to", "timezone", "metadata", "X"])
    rows = 0
    for i, value in enumerate(STRINGS):
        good = f"0913{i:03d}1{i:03d}"
        for row in ([value, "", "", ""], [good, value, "", ""],
                    [f"0914{i:03d}1{i:03d}", "", json.dumps({MARK: value}), ""],
                    [f"0915{i:03d}1{i:03d}", "", "", value]):
            writer.writerow(row)
            rows += 1
    body = buffer.getvalue().encode("utf-8", "surrogatepass")
    answer = client.post(f"/v1/campaigns/{cid}/contacts", data=body, content_type="text/csv")
    assert answer.status_code == 200, answer.data
    result = answer.get_json()
    assert result["received"] == rows
    assert result["accepted"] + result["duplicates"] + result["rejected"] == rows
    report = client.get(result["rejects_url"]).get_data(as_text=True)
    assert len(list(csv.reader(report.splitlines()))) == result["rejected"] + 1
    lines = [json.dumps({"to": "09161231001", "variables": {"X": "a\r\nAction: Command"}}),
             json.dumps({"to": "09161231002", "variables": {"X\nAction": "1"}}),
             json.dumps({"to": "09161231003", "metadata": {MARK: "\r\n"}}),
             "{\"to\": \"09161231004\\r\\nAction: Command\"}"]
    ndjson = client.post(f"/v1/campaigns/{cid}/contacts",
                         data=("\n".join(lines) + "\n").encode(),
                         content_type="application/x-ndjson").get_json()
    assert (ndjson["accepted"], ndjson["rejected"]) == (1, 3)
    assert client.post(f"/v1/campaigns/{cid}/start").status_code == 200
    assert dial_everything(sessions, settings, ami, relay, sim) == \
        result["accepted"] + ndjson["accepted"]
    draft = try_create(client, sessions, {"name": "headers"})
    hostile_headers = [["to", value] for value in STRINGS if value not in ("", " ")]
    for header in hostile_headers:
        data = ",".join(f'"{h}"' for h in header).encode("utf-8", "surrogatepass") + b"\n"
        response = client.post(f"/v1/campaigns/{draft}/contacts", data=data,
                               content_type="text/csv")
        assert response.status_code in (200, 422), (header, response.data)
        if response.status_code == 422:
            assert_error_body(response)
    # Only names usable as dialplan variables became columns; nothing was stored anyway.
    assert count(sessions, "SELECT count(*) FROM campaign_contacts c JOIN campaigns k "
                           "ON k.id = c.campaign_id WHERE k.name = 'headers'") == 0
