"""Status callbacks: signing, where they may go, and end-to-end delivery with retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from sqlalchemy import text

from dispatcher.devstack.embedded import EmbeddedPostgres
from dispatcher.domain.callbacks import CallbackRefused, check_url, event_for, sign, verify
from dispatcher.domain.status import CallStatus as S
from pbxsim import SimConfig
from tests.support.stackproc import Stack, running_stack


class TestRules:
    def test_a_signature_verifies_only_for_the_same_secret_body_and_recent_time(self) -> None:
        header = sign("s3cret", b'{"a":1}')
        assert verify("s3cret", b'{"a":1}', header)
        assert not verify("other", b'{"a":1}', header)
        assert not verify("s3cret", b'{"a":2}', header)
        assert not verify("s3cret", b'{"a":1}', sign("s3cret", b'{"a":1}', int(time.time()) - 900))
        assert not verify("s3cret", b'{"a":1}', "garbage")

    @pytest.mark.parametrize("url", [
        "http://127.0.0.1/hook", "http://localhost:8000/x", "http://10.1.2.3/x",
        "http://192.168.1.1/x", "http://[::1]/x", "http://169.254.169.254/latest/meta-data",
        "ftp://example.com/x", "http://user:pw@example.com/x", "javascript:alert(1)",
        "http://example.com/a\r\nHost: evil", 42,
    ])
    def test_targets_inside_the_network_or_not_http_are_refused(self, url: object) -> None:
        with pytest.raises(CallbackRefused):
            check_url(url)

    def test_public_targets_pass_and_private_ones_only_when_allowed(self) -> None:
        assert check_url("https://hooks.example.com/calls?x=1")
        assert check_url("http://127.0.0.1:9/hook", allow_private=True)

    def test_status_changes_map_to_the_twilio_style_events(self) -> None:
        assert event_for(S.INITIATED, S.RINGING) == "ringing"
        assert event_for(S.RINGING, S.IN_PROGRESS) == "answered"
        assert event_for(S.IN_PROGRESS, S.COMPLETED) == "completed"
        assert event_for(S.INITIATED, S.BUSY) == "completed"
        assert event_for(S.RINGING, S.RINGING) is None


class Receiver:
    """A real HTTP server on loopback that fails the first delivery of each 'completed'."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.failed_once: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event = json.loads(body)
                if event["event"] == "completed" and event["event_id"] not in \
                        receiver.failed_once:
                    receiver.failed_once.add(event["event_id"])
                    self.send_response(500)
                else:
                    receiver.received.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, migrated_template: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = SimConfig(users={"dispatcher": "worker-secret", "events": "events-secret"},
                       ring_delay=0.05, answer_delay=0.2, talk_time=0.3, cel_events=False)
    with running_stack(postgres, migrated_template, redis_url,
                       tmp_path_factory.mktemp("callback-logs"), config,
                       {"DISPATCHER_CALLBACK_ALLOW_PRIVATE": "true",
                        "DISPATCHER_CAMPAIGN_UPLOAD_GRACE": "0"}, beat=True) as stack:
        yield stack


@pytest.mark.e2e
def test_callbacks_are_delivered_signed_in_order_and_retried(stack: Stack) -> None:
    receiver = Receiver()
    call = stack.post({"to": "+989121231001", "status_callback": receiver.url,
                       "status_callback_event": ["initiated", "ringing", "answered",
                                                 "completed"]}).json()
    deadline = time.monotonic() + 30
    while len(receiver.received) < 4:
        assert time.monotonic() < deadline, f"got {len(receiver.received)} callbacks"
        time.sleep(0.1)
    with stack.sessions() as session:
        secret = session.execute(text("SELECT callback_secret FROM api_keys")).scalar()
    events = []
    for headers, body in receiver.received:
        assert verify(secret, body, headers["X-Signature"])
        events.append(json.loads(body))
    events.sort(key=lambda e: e["sequence"])
    assert [e["event"] for e in events] == ["initiated", "ringing", "answered", "completed"]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4]
    assert events[-1]["call"]["status"] == "completed"
    assert events[-1]["call"]["id"] == call["id"]
    log = stack.get(f"/v1/calls/{call['id']}/callbacks").json()["data"]
    assert [(d["event"], d["state"]) for d in log] == [
        ("initiated", "delivered"), ("ringing", "delivered"), ("answered", "delivered"),
        ("completed", "delivered")]
    assert log[-1]["attempts"] == 2  # the receiver failed the first try


@pytest.mark.e2e
def test_a_callback_to_a_private_address_is_refused_unless_allowed(stack: Stack) -> None:
    refused = stack.post({"to": "+989121231001", "status_callback": "http://user@x:1@10.0.0.1/"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "status_callback"


@pytest.mark.e2e
def test_a_campaign_reports_its_calls_and_its_completion_signed(stack: Stack) -> None:
    receiver = Receiver()
    auth = {"Authorization": f"Bearer {stack.key}"}
    cid = requests.post(f"{stack.base}/v1/campaigns", headers=auth, timeout=10, json={
        "name": "hooks", "status_callback": receiver.url}).json()["id"]
    requests.post(f"{stack.base}/v1/campaigns/{cid}/contacts", headers={
        **auth, "Content-Type": "text/csv"}, data=b"to\n09121231011\n09121232011\n",
        timeout=10).raise_for_status()
    requests.post(f"{stack.base}/v1/campaigns/{cid}/start", headers=auth,
                  timeout=10).raise_for_status()
    deadline = time.monotonic() + 60
    while sorted(json.loads(body)["event"] for _, body in receiver.received) != [
            "campaign.completed", "campaign.started", "completed", "completed"]:
        # (the receiver fails each call's first "completed" delivery: it comes on a retry)
        assert time.monotonic() < deadline, [json.loads(b)["event"] for _, b in
                                             receiver.received]
        time.sleep(0.2)
    with stack.sessions() as session:
        secret = session.execute(text("SELECT callback_secret FROM api_keys")).scalar()
    events = [json.loads(body) for headers, body in receiver.received
              if verify(secret, body, headers["X-Signature"])]
    assert len(events) == len(receiver.received)  # every one signed with the key's secret
    lifecycle = sorted((e for e in events if "campaign" in e), key=lambda e: e["sequence"])
    assert [e["event"] for e in lifecycle] == ["campaign.started", "campaign.completed"]
    assert lifecycle[-1]["campaign"]["outcomes"] == {"answered": 1, "busy": 1}
    calls = [e for e in events if "call" in e and e["call"]["campaign_id"] == cid]
    assert sorted(e["call"]["status"] for e in calls) == ["busy", "completed"]
    log = requests.get(f"{stack.base}/v1/campaigns/{cid}/callbacks", headers=auth,
                       timeout=10).json()["data"]
    assert [(d["event"], d["state"]) for d in log] == [
        ("campaign.started", "delivered"), ("campaign.completed", "delivered")]
