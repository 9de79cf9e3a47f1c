"""AMI injection: hostile text in every field a client controls never becomes AMI of its own.

Each payload goes through the real HTTP API (real PostgreSQL, real Redis). It is either refused
with a 4xx and the standard error body, writing nothing, or accepted and then dialled for real
through a worker AMI session to the simulated PBX. A loopback relay between the two keeps every
byte the worker writes, so the check is on the bytes on the AMI socket (only Login and our
Originates, each exactly as built from the stored row) as well as on what the PBX parsed.

At the serializer level, a property test feeds arbitrary text into every ``OriginateRequest``
field and into ``serialize_action``: either ``ValueError``, or one message that parses back to
exactly the headers given.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.ami.manager import WorkerAMISession
from dispatcher.adapters.ami.originate import OriginateRequest
from dispatcher.adapters.ami.protocol import (
    MAX_LINE_BYTES,
    serialize_action,
)
from dispatcher.adapters.db.calls import CallRepository
from dispatcher.config import Settings
from dispatcher.usecases.dial_call import OriginateTarget, build_originate, dial_call
from pbxsim import PBXSimulator
from pbxsim.session import parse_message
from tests.support.amirelay import RecordingRelay
from tests.support.databases import count
from tests.support.hostile import (
    HOSTILE,
    MARK,
    ORIGINATE_HEADERS,
    assert_error_body,
    messages,
)

if TYPE_CHECKING:
    from werkzeug.test import TestResponse

TARGET = OriginateTarget()
GOOD_TO = "09121231001"
# -- fixtures -------------------------------------------------------------------------------------


# -- the API-to-socket harness --------------------------------------------------------------------


@dataclass
class Harness:
    client: FlaskClient
    sessions: sessionmaker[Session]
    sim: PBXSimulator
    relay: RecordingRelay
    ami: WorkerAMISession
    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def submit(self, body: Any = None, *, raw: str | None = None,
               key: str | None = None) -> dict[str, Any] | None:
        """POST a call; on 4xx check nothing was written, on 2xx dial it and check the wire."""
        before = count(self.sessions, "SELECT count(*) FROM calls")
        environ = {}
        if key is not None:  # straight into the WSGI environ, as a lenient server would pass it
            environ["HTTP_IDEMPOTENCY_KEY"] = key.encode("utf-8", "surrogatepass").decode("latin-1")
        data = raw if raw is not None else json.dumps(body)
        response = self.client.post("/v1/calls", data=data, content_type="application/json",
                                    environ_overrides=environ)
        after = count(self.sessions, "SELECT count(*) FROM calls")
        label = repr(raw if raw is not None else (body, key))[:120]
        if 400 <= response.status_code < 500:
            assert_error_body(response)
            assert after == before, f"{label}: refused but a call was written"
            self.refused.append(label)
            return None
        assert response.status_code == 202, (label, response.status_code, response.data)
        assert after == before + 1
        self.accepted.append(label)
        call: dict[str, Any] = response.get_json()
        self.dial_and_check(call["id"], body if isinstance(body, dict) else {})
        return call

    def dial_and_check(self, call_id: str, body: dict[str, Any]) -> None:
        mark = len(self.relay.data())
        assert dial_call(self.sessions, uuid.UUID(call_id), lambda _t: self.ami, TARGET) \
            == "dialed"
        with self.sessions() as session:
            row = CallRepository(session).get(uuid.UUID(call_id))
        assert row is not None and row.attempt_id is not None
        expected = build_originate(row, row.attempt_id, TARGET).headers()

        # The bytes on the socket for this dial: one message, exactly what we built.
        written = self.relay.data()[mark:]
        [message] = messages(written)
        assert list(message.items) == expected
        assert written == serialize_action(expected)

        # What the PBX parsed: one Originate for this attempt, only our headers.
        attempt = str(row.attempt_id)
        mine = [a for a in self.sim.actions
                if a.get("Action") == "Originate" and a.get("ActionID") == attempt]
        assert len(mine) == 1 and self.sim.originate_counts()[attempt] == 1
        items = [tuple(pair) for pair in mine[0]["_items"]]
        assert items == expected
        names = [name for name, _ in items]
        assert set(names) <= set(ORIGINATE_HEADERS), names
        assert names.count("Action") == names.count("Context") == names.count("Channel") == 1
        headers = dict(items)
        assert headers["Context"] == TARGET.context and headers["Exten"] == TARGET.exten
        assert headers["Priority"] == str(TARGET.priority)
        assert re.fullmatch(r"PJSIP/[0-9]{4,15}@carrier-trunk", headers["Channel"])
        assert headers["Timeout"] == str((body.get("timeout") or 30) * 1000)
        assert headers.get("CallerID") == body.get("from")
        sent_vars = {f"{k}={v}" for k, v in (body.get("variables") or {}).items()}
        assert {v for n, v in items if n == "Variable"} == sent_vars | {f"CALL_ID={call_id}"}

    def finish(self) -> None:
        """The whole stream the worker wrote: Login, then only our Originates, byte-exact."""
        written = self.relay.data()
        stream = messages(written)
        assert b"".join(serialize_action(m.items) for m in stream) == written
        assert [m.get("Action") for m in stream] == ["Login"] + ["Originate"] * len(self.accepted)
        assert MARK.encode() not in written
        actions = self.sim.actions
        assert [a.get("Action") for a in actions] == ["Login"] + ["Originate"] * len(self.accepted)
        assert MARK not in json.dumps(actions)


@pytest.fixture
def harness(client: FlaskClient, sessions: sessionmaker[Session], sim: PBXSimulator,
            relay: RecordingRelay, ami: WorkerAMISession) -> Harness:
    return Harness(client, sessions, sim, relay, ami)


# -- every field through the API ------------------------------------------------------------------


def test_to(harness: Harness) -> None:
    benign = ["+98 912 123 1001", "(0912) 123-1001", "0912.123.1001"]
    # Valid numbers the dialplan would not dial (no ASTERISK_DIAL_PATTERNS entry matches).
    undialled = ["+98211234", "+982121234"]
    taken = [v for v in [*HOSTILE, GOOD_TO + "\n", *undialled, *benign]
             if harness.submit({"to": v})]
    assert taken == benign
    harness.finish()


def test_from(harness: Harness) -> None:
    values = [*HOSTILE, "+12345\n", "+12345", "0215555"]
    taken = [v for v in values if harness.submit({"to": GOOD_TO, "from": v})]
    assert taken == [None, "+12345", "0215555"]  # null: no caller ID
    harness.finish()


def test_variable_names(harness: Harness) -> None:
    names = [v for v in HOSTILE if isinstance(v, str)]
    # Names the dialplan reads or Asterisk acts on: a channel variable shadows the global.
    reserved = ["TRUNK_LINES", "__TRUNK_LINES", "_max_call_seconds", "__OUTBOUND_GROUP",
                "__TRANSFER_CONTEXT", "FORWARD_CONTEXT", "DYNAMIC_FEATURES", "BRIDGE_FEATURES",
                "__CONNECTED_LINE_SEND_SUB", "LIMIT_WARNING_FILE"]
    values = [*names, *reserved, "CALL_ID", "__CALL_ID", "X", "_ORDER", "__INHERITED", "a1"]
    taken = [v for v in values if harness.submit({"to": GOOD_TO, "variables": {v: "v"}})]
    assert taken == ["X", "_ORDER", "__INHERITED", "a1"]
    harness.finish()


def test_variable_values(harness: Harness) -> None:
    values = [*HOSTILE, "order 7", "a:b@c/d+e-f.g", 42]
    taken = [v for v in values if harness.submit({"to": GOOD_TO, "variables": {"X": v}})]
    # Harmless inside one Variable header (no comma, quote, $, (), CR/LF): sent, and the
    # checks above prove they stayed one header.
    assert taken == ["Action: Command", "Context: evil", "Local/1@evil", "", " ", 12.5,
                     "order 7", "a:b@c/d+e-f.g", 42]
    harness.finish()


def test_timeout(harness: Harness) -> None:
    values = [*HOSTILE, 4, 121, -30, 2**63, 30.0, 5, 120]
    taken = [v for v in values if harness.submit({"to": GOOD_TO, "timeout": v})]
    assert taken == [None, 5, 120]  # null: the default
    for raw in ("1e400", "NaN", "Infinity", "-Infinity", "0x1e", "30e0", "030", '"30"'):
        assert harness.submit(raw=f'{{"to": "{GOOD_TO}", "timeout": {raw}}}') is None
    harness.finish()


def test_idempotency_key(harness: Harness) -> None:
    keys = [v for v in HOSTILE if isinstance(v, str)] + ["key-1", "a b c"]
    taken = [k for k in keys if harness.submit({"to": GOOD_TO}, key=k)]
    # 1-255 printable ASCII characters: never a control character, never anything longer
    assert taken and all(k.isascii() and k.isprintable() and len(k) <= 255 for k in taken)
    assert {"key-1", "a b c", "$(SHELL(rm -rf /))", "/.*/"} <= set(taken)
    harness.finish()


def test_hostile_metadata_is_stored_verbatim_and_never_sent(
    harness: Harness, client: FlaskClient
) -> None:
    stored = 0
    for value in HOSTILE:
        metadata = {"note": [value, MARK], MARK: {"nested": value}, "k" + MARK: str(value)}
        call = harness.submit({"to": GOOD_TO, "metadata": metadata})
        if call is None:
            # PostgreSQL's jsonb cannot hold NUL or a lone surrogate: refused, not mangled.
            assert isinstance(value, str) and ("\x00" in value or "\ud800" in value)
            continue
        stored += 1
        assert call["metadata"] == metadata
        assert client.get(f"/v1/calls/{call['id']}").get_json()["metadata"] == metadata
    assert stored == len(HOSTILE) - 2  # all but "1\x00..." and "\ud800"
    for raw in ('{"x": NaN}', '{"x": 1e400}', "[" * 5000 + "]" * 5000):
        harness.submit(raw=f'{{"to": "{GOOD_TO}", "metadata": {raw}}}')
    harness.finish()


# -- the serializer, for any text -----------------------------------------------------------------

_ANY = st.one_of(st.text(max_size=40), st.sampled_from([v for v in HOSTILE if isinstance(v, str)]))


def _maybe(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(valid, _ANY)


def _rx(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


def _assert_one_message(headers: list[tuple[str, str]], data: bytes) -> None:
    assert data.endswith(b"\r\n\r\n") and data.count(b"\r\n\r\n") == 1
    bare = data.replace(b"\r\n", b"")
    assert b"\r" not in bare and b"\n" not in bare and b"\x00" not in bare
    assert all(len(line) + 2 <= MAX_LINE_BYTES for line in data.split(b"\r\n"))
    [message] = messages(data)
    assert list(message.items) == [(k, str(v)) for k, v in headers]
    # and as Asterisk's own header parser reads the lines (it drops a value's leading blanks)
    asterisk_view = parse_message(data[:-4].decode("ascii").split("\r\n"))
    assert list(asterisk_view.items) == [(k, str(v).lstrip(" \t")) for k, v in headers]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    action_id=_maybe(st.uuids().map(str)),
    channel=_maybe(_rx(r"PJSIP/[0-9]{4,12}@[a-z][a-z\-]{0,12}")),
    timeout_s=st.integers(-5, 4000),
    caller_id=st.none() | _maybe(_rx(r"\+?[0-9]{2,15}")),
    variables=st.dictionaries(_maybe(_rx(r"[A-Z_][A-Z0-9_]{0,10}")),
                              _maybe(_rx(r"[A-Za-z0-9 _.:@+/\-]{0,20}")), max_size=4),
    context=_maybe(_rx(r"[a-z][a-z\-]{0,20}")),
    exten=_maybe(_rx(r"[0-9s]{1,6}")),
    priority=st.integers(-1, 5),
    use_application=st.booleans(),
    application=_maybe(st.sampled_from(["Playback", "System", "Wait", "AGI"])),
    data=st.none() | _maybe(_rx(r"[a-z0-9,]{0,20}")),
)
def test_any_originate_is_refused_or_exactly_one_message(
    action_id: str, channel: str, timeout_s: int, caller_id: str | None,
    variables: dict[str, str], context: str, exten: str, priority: int,
    use_application: bool, application: str, data: str | None,
) -> None:
    target: dict[str, Any] = (
        {"application": application, "data": data} if use_application
        else {"context": context, "exten": exten, "priority": priority})
    try:
        request = OriginateRequest(action_id=action_id, channel=channel, timeout_s=timeout_s,
                                   caller_id=caller_id, variables=variables, **target)
        headers = request.headers()
        wire = serialize_action(headers)
    except ValueError:
        return
    _assert_one_message(headers, wire)
    assert [v for k, v in headers if k == "Action"] == ["Originate"]
    assert (application or "").lower() not in {"system", "agi"} or not use_application


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_maybe(_rx(r"[A-Z][A-Za-z]{0,10}")), _ANY), min_size=1, max_size=6))
def test_any_headers_serialize_to_one_message_or_raise(headers: list[tuple[str, str]]) -> None:
    try:
        wire = serialize_action(headers)
    except ValueError:
        return
    _assert_one_message(headers, wire)


# -- bodies, content types and query strings: the standard error body everywhere -------------------


def _refused(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.data)
    assert_error_body(response)
    error: dict[str, Any] = response.get_json()["error"]
    return error


def test_bad_bodies_on_submit_change_nothing(client: FlaskClient, settings: Settings,
                                             sessions: sessionmaker[Session]) -> None:
    limit = settings.max_body_bytes
    post = client.post
    _refused(post("/v1/calls", data=b" " * (limit + 1), content_type="application/json"), 413)
    big = json.dumps({"to": GOOD_TO, "metadata": "x" * limit})
    _refused(post("/v1/calls", data=big, content_type="application/json"), 413)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/json",
                         "multipart/form-data; boundary=x", None):
        _refused(post("/v1/calls", data=json.dumps({"to": GOOD_TO}), content_type=content_type),
                 415)
    for raw in (b"", b"{", b'{"to": "09121231001"} x', b"\xff\xfe\x00", b'{"to": NaN}',
                b"[" * 5000 + b"]" * 5000, b'{"to": "0912\xff"}', b"{'to': '09121231001'}"):
        assert _refused(post("/v1/calls", data=raw, content_type="application/json"),
                        400)["code"] == "bad-request"
    for body in ("null", "[]", '"09121231001"', "1", '{"to": "09121231001", "extra": 1}'):
        _refused(post("/v1/calls", data=body, content_type="application/json"), 422)
    assert count(sessions, "SELECT count(*) FROM calls") == 0


def test_bad_bodies_on_cancel_cancel_nothing(client: FlaskClient, settings: Settings,
                                             sessions: sessionmaker[Session]) -> None:
    call = client.post("/v1/calls", json={"to": GOOD_TO}).get_json()
    url = f"/v1/calls/{call['id']}/cancel"
    _refused(client.post(url, data=b"{}" + b" " * settings.max_body_bytes,
                         content_type="application/json"), 413)
    _refused(client.post(url, data="please", content_type="text/plain"), 415)
    _refused(client.post(url, data="{", content_type="application/json"), 400)
    _refused(client.post(url, data="[]", content_type="application/json"), 422)
    assert count(sessions, "SELECT count(*) FROM calls WHERE status = 'queued'") == 1
    _refused(client.post(f"/v1/calls/{uuid.uuid4()}/cancel"), 404)
    _refused(client.post("/v1/calls/%2F.%2A%2F/cancel"), 404)  # "/.*/" is no call id
    assert client.post(url, json={}).status_code == 200
    _refused(client.post(url), 409)


def test_bad_list_queries(client: FlaskClient) -> None:
    client.post("/v1/calls", json={"to": GOOD_TO})
    for query, status, name in [
        ("status=nope", 422, "status"), ("status=", 422, "status"),
        ("limit=0", 422, "limit"), ("limit=501", 422, "limit"), ("limit=-1", 422, "limit"),
        ("limit=%D9%A5", 422, "limit"),  # an Arabic-Indic five
        ("limit=1e2", 422, "limit"),
        ("to=09121231001%0D%0AAction:%20Command", 422, "to"), ("to=%00", 422, "to"),
        ("created_after=yesterday", 422, "created_after"),
        ("created_after=2024-01-01T00:00:00", 422, "created_after"),  # no offset
        ("created_before=0001-01-01T00:00:00%2B23:59", 422, "created_before"),
        ("cursor=garbage", 400, "cursor"), ("cursor=WzEsMl0", 400, "cursor"),  # [1,2]
        ("cursor=" + "W" * 4000, 400, "cursor"),
        ("stauts=busy", 422, "stauts"),  # misspelt filter: not silently ignored
    ]:
        error = _refused(client.get(f"/v1/calls?{query}"), status)
        assert error.get("field") == name, query
    # offsets PostgreSQL itself would refuse (beyond +-15:59) are normalised, not a 500
    response = client.get("/v1/calls?created_after=2020-01-01T00:00:00%2B23:57")
    assert response.status_code == 200 and len(response.get_json()["data"]) == 1


def test_unknown_routes_methods_and_keys_get_the_error_body(app: Flask,
                                                            client: FlaskClient) -> None:
    _refused(client.get("/v1/nope"), 404)
    error = client.delete("/v1/calls")
    _refused(error, 405)
    assert set(error.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    _refused(app.test_client().get("/v1/calls"), 401)
    _refused(app.test_client().get("/v1/calls", headers={"Authorization": "Bearer \x00"}), 401)
