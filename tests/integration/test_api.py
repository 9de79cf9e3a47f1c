"""The REST API against real PostgreSQL and a real Redis broker (Flask's test client)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.dial_queries import claim_call
from dispatcher.adapters.db.engine import engine_of, raw_transaction
from dispatcher.adapters.db.tables import CallRow
from dispatcher.config import Settings
from dispatcher.domain.new_calls import NewCall
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import load_trunks
from dispatcher.usecases import api_keys, requeue, submit_call
from tests.support.databases import count
from web import create_app
from web.models.calls import CallBody
from web.models.refusals import validated
from web.models.rules import ApiContext

if TYPE_CHECKING:
    from werkzeug.test import TestResponse

NUMBER = "+989121231001"


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    yield app


@pytest.fixture
def api_key(sessions: sessionmaker[Session]) -> str:
    return api_keys.create_api_key(sessions, "tests")[1]


def signed_in(app: Flask, key: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@pytest.fixture
def client(app: Flask, api_key: str) -> FlaskClient:
    return signed_in(app, api_key)


def queued_messages(settings: Settings) -> list[dict[str, Any]]:
    broker = redis.Redis.from_url(settings.redis_url)
    return [json.loads(raw) for raw in broker.lrange(settings.queue_name, 0, -1)]


def post_call(client: FlaskClient, body: object, **headers: str) -> TestResponse:
    return client.post("/v1/calls", json=body, headers=headers)


class TestAuth:
    def test_health_is_open_but_calls_need_a_key(self, app: Flask) -> None:
        anonymous = app.test_client()
        assert anonymous.get("/healthz").status_code == 200
        response = anonymous.get("/v1/calls")
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"

    def test_an_unknown_key_is_refused(self, app: Flask) -> None:
        response = app.test_client().get("/v1/calls", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401

    def test_keys_are_stored_only_as_hashes(self, sessions: sessionmaker[Session],
                                            api_key: str) -> None:
        assert count(sessions, "SELECT count(*) FROM api_keys WHERE key_hash = :k",
                     k=api_key) == 0
        assert count(sessions, "SELECT count(*) FROM api_keys WHERE key_hash = :k",
                     k=api_keys.hash_api_key(api_key)) == 1


class TestErrorsSpeakTheAPI:
    """Every unknown route and method answers in the API's own error shape and words, not
    Werkzeug's page for browsers."""

    def test_an_unknown_route_names_what_was_asked(self, client: FlaskClient) -> None:
        for method, path in (("GET", "/v1/nothing-here"), ("DELETE", "/v1/dnc-lists/blocked")):
            response = client.open(path, method=method)
            assert response.status_code == 404 and response.is_json
            assert response.get_json()["error"] == {
                "code": "not-found", "message": f"no such resource: {method} {path}"}

    def test_a_method_a_route_does_not_take_says_which_it_does(self,
                                                              client: FlaskClient) -> None:
        response = client.delete("/v1/calls")
        assert response.status_code == 405 and response.is_json
        message = response.get_json()["error"]["message"]
        assert message.startswith("DELETE is not allowed on /v1/calls; allowed:")
        assert set(response.headers["Allow"].replace(" ", "").split(",")) <= set(
            message.split("allowed: ")[1].replace(" ", "").split(","))

    def test_metrics_name_their_charset_once(self, client: FlaskClient) -> None:
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"


class TestSubmit:
    def test_a_call_is_recorded_then_enqueued_with_only_its_id(
        self, client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
    ) -> None:
        response = post_call(client, {"to": "09121231001", "metadata": {"order": 7}})
        assert response.status_code == 202
        call = response.get_json()
        assert call["status"] == "queued" and call["to"] == NUMBER
        assert call["metadata"] == {"order": 7} and call["timeout"] == 30
        assert response.headers["Location"] == f"/v1/calls/{call['id']}"
        assert count(sessions, "SELECT count(*) FROM calls WHERE published_at IS NOT NULL") == 1
        [message] = queued_messages(settings)
        assert message["headers"]["task"] == "dispatcher.originate_call"
        args = json.loads(base64.b64decode(message["body"]))[0]
        assert args == [call["id"]]
        assert "9121231001" not in json.dumps(message)  # no phone number in the broker

    def test_the_answer_to_a_submit_is_what_the_database_holds(
        self, client: FlaskClient
    ) -> None:
        """The submit path answers from the values it inserted, without reading the row back;
        every field must still match what a later GET returns from the stored row."""
        body = {"to": NUMBER, "from": "+982191001000", "timeout": 45, "priority": 8,
                "variables": {"ACCOUNT": "A-17", "LANG": "fa"},
                "metadata": {"order": 991, "tags": ["vip", None],
                             "note": "\u062e\u0631\u06cc\u062f"},
                "status_callback": "https://hooks.example.com/calls",
                "status_callback_event": ["answered", "completed"]}
        accepted = post_call(client, body)
        assert accepted.status_code == 202
        stored = client.get(f"/v1/calls/{accepted.get_json()['id']}")
        assert stored.get_json() == accepted.get_json()
        assert accepted.get_json()["metadata"] == body["metadata"]
        plain = post_call(client, {"to": NUMBER})
        assert client.get(f"/v1/calls/{plain.get_json()['id']}").get_json() == plain.get_json()
        assert plain.get_json()["metadata"] is None and plain.get_json()["variables"] == {}

    def test_the_loser_of_a_race_on_one_idempotency_key_answers_like_a_replay(
        self, settings: Settings, sessions: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Both requests looked before either committed; the second INSERT hits the unique
        index, and its answer is the first call, not an error and not a second call."""
        api = ApiContext(NumberPolicy.from_settings(settings), load_trunks(settings))
        request = validated(CallBody, {"to": NUMBER}, api).call_request(api)
        key_id = api_keys.create_api_key(sessions, "racer")[0].id
        first = submit_call.submit_call(sessions, request, key_id, "race")
        replay = submit_call._replay
        looks: list[object] = []

        def too_early_then_real(*args: Any) -> list[CallRow | NewCall] | None:
            looks.append(args)
            return None if len(looks) == 1 else replay(*args)

        monkeypatch.setattr(submit_call, "_replay", too_early_then_real)
        second = submit_call.submit_call(sessions, request, key_id, "race")
        assert (first.created, second.created, len(looks)) == (True, False, 2)
        assert second.call.id == first.call.id
        assert count(sessions, "SELECT count(*) FROM calls") == 1

    def test_the_same_idempotency_key_and_body_returns_the_original(
        self, client: FlaskClient, settings: Settings
    ) -> None:
        first = post_call(client, {"to": NUMBER}, **{"Idempotency-Key": "k1"})
        again = post_call(client, {"to": "09121231001"}, **{"Idempotency-Key": "k1"})
        assert (first.status_code, again.status_code) == (202, 200)
        assert again.get_json()["id"] == first.get_json()["id"]
        assert len(queued_messages(settings)) == 1

    def test_the_same_key_with_another_body_is_a_conflict(self, client: FlaskClient) -> None:
        post_call(client, {"to": NUMBER}, **{"Idempotency-Key": "k2"})
        response = post_call(client, {"to": NUMBER, "timeout": 40}, **{"Idempotency-Key": "k2"})
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "idempotency-key-reused"

    @pytest.mark.parametrize(("body", "field"), [
        ({"to": "12"}, "to"),
        ({"to": "09121231001\r\nAction: Command\r\nCommand: core stop now"}, "to"),
        ({"to": NUMBER, "variables": {"X": "a\r\n\r\nAction: Hangup\r\nChannel: /.*/"}},
         "variables.X"),
        ({"to": NUMBER, "from": "1\nContext: evil"}, "from"),
        ({"to": NUMBER, "timeout": 500}, "timeout"),
    ])
    def test_bad_input_gets_422_and_changes_nothing(
        self, client: FlaskClient, settings: Settings, sessions: sessionmaker[Session],
        body: dict[str, object], field: str
    ) -> None:
        response = post_call(client, body)
        assert response.status_code == 422
        assert response.get_json()["error"]["field"] == field
        assert count(sessions, "SELECT count(*) FROM calls") == 0
        assert queued_messages(settings) == []

    def test_non_json_malformed_and_oversized_bodies(self, client: FlaskClient,
                                                     settings: Settings) -> None:
        assert client.post("/v1/calls", data="to=1", content_type="text/plain").status_code == 415
        bad = client.post("/v1/calls", data="{nope", content_type="application/json")
        assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad-request"
        huge = {"to": NUMBER, "metadata": "x" * (settings.max_body_bytes + 1)}
        too_large = post_call(client, huge)
        assert too_large.status_code == 413
        assert too_large.get_json()["error"]["message"] == (
            f"the request body is larger than the limit of {settings.max_body_bytes:,} bytes")

    def test_a_broker_outage_still_accepts_the_call_for_the_sweeper(
        self, settings: Settings, sessions: sessionmaker[Session], api_key: str
    ) -> None:
        app = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
        response = app.test_client().post("/v1/calls", json={"to": NUMBER},
                                          headers={"Authorization": f"Bearer {api_key}"})
        assert response.status_code == 202
        assert count(sessions, "SELECT count(*) FROM calls WHERE status = 'queued'") == 1
        # Redis is back: the sweeper finds the call in no line and puts it in one.
        deps = create_app(settings).extensions["dispatcher"]
        assert requeue.requeue_stale(sessions, deps.admissions, timedelta(0)) == 1
        [message] = queued_messages(settings)
        assert message["headers"]["task"] == "dispatcher.originate_call"


    def test_a_database_outage_is_a_503_not_a_crash(self, settings: Settings) -> None:
        down = replace(settings, database_url="postgresql://postgres@127.0.0.1:1/none")
        response = create_app(down).test_client().post(
            "/v1/calls", json={"to": NUMBER}, headers={"Authorization": "Bearer x"})
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "database-unavailable"


def numbers(n: int, start: int = 1000) -> list[str]:
    return [f"+98912123{start + i}" for i in range(n)]


class TestBatch:
    """``POST /v1/calls`` with a JSON array: bulk scripts submit many calls per round trip."""

    def test_a_batch_is_stored_and_put_in_line_in_the_order_sent(
        self, app: Flask, api_key: str, settings: Settings, sessions: sessionmaker[Session]
    ) -> None:
        small = create_app(replace(settings, trunk_lines=2))
        client = signed_in(small, api_key)
        sent = numbers(6)
        response = post_call(client, [{"to": n} for n in sent])
        assert response.status_code == 202
        calls = response.get_json()["data"]
        assert [c["to"] for c in calls] == sent
        assert {c["status"] for c in calls} == {"queued"}
        for call in calls:
            assert client.get(f"/v1/calls/{call['id']}").get_json() == call
        # Two lines: the first two calls are handed to workers, the rest wait in order.
        published = [json.loads(base64.b64decode(m["body"]))[0][0]
                     for m in queued_messages(settings)]
        assert sorted(published) == sorted(c["id"] for c in calls[:2])
        waiting = cast(list[bytes], redis.Redis.from_url(settings.redis_url).zrange(
            f"dispatcher:{{{settings.trunk_name}}}:waiting", 0, -1))
        assert [w.decode() for w in waiting] == [c["id"] for c in calls[2:]]

    @pytest.mark.parametrize(("body", "field"), [
        ([{"to": NUMBER}, {"to": NUMBER}, {"to": "0912\r\nAction: Command"}], "[2].to"),
        ([{"to": NUMBER}, {"to": NUMBER, "variables": {"X": "a\nb"}}], "[1].variables.X"),
        ([{"to": NUMBER}, "+989121231002"], "[1]"),
        ([], None),
        ([{"to": NUMBER}] * 501, None),
    ])
    def test_one_bad_call_refuses_the_whole_batch_and_changes_nothing(
        self, client: FlaskClient, settings: Settings, sessions: sessionmaker[Session],
        body: list[object], field: str | None
    ) -> None:
        response = post_call(client, body)
        assert response.status_code == 422
        assert response.get_json()["error"].get("field") == field
        assert count(sessions, "SELECT count(*) FROM calls") == 0
        assert queued_messages(settings) == []

    def test_a_batch_replayed_with_its_key_returns_the_same_calls(
        self, client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
    ) -> None:
        body = [{"to": n} for n in numbers(3)]
        first = post_call(client, body, **{"Idempotency-Key": "batch-1"})
        again = post_call(client, body, **{"Idempotency-Key": "batch-1"})
        assert (first.status_code, again.status_code) == (202, 200)
        assert [c["id"] for c in again.get_json()["data"]] == \
            [c["id"] for c in first.get_json()["data"]]
        assert count(sessions, "SELECT count(*) FROM calls") == 3
        assert len(queued_messages(settings)) == 3

    @pytest.mark.parametrize("other", [
        lambda body: body[:2], lambda body: [*body, {"to": NUMBER}],
        lambda body: body[::-1], lambda body: [body[0], body[1], {"to": NUMBER}],
    ])
    def test_another_batch_under_a_used_key_is_a_conflict(
        self, client: FlaskClient, sessions: sessionmaker[Session],
        other: Callable[[list[dict[str, str]]], list[dict[str, str]]]
    ) -> None:
        body = [{"to": n} for n in numbers(3)]
        assert post_call(client, body, **{"Idempotency-Key": "batch-2"}).status_code == 202
        response = post_call(client, other(body), **{"Idempotency-Key": "batch-2"})
        assert response.status_code == 409
        assert count(sessions, "SELECT count(*) FROM calls") == 3

    def test_a_broker_outage_still_accepts_the_batch_for_the_sweeper(
        self, settings: Settings, sessions: sessionmaker[Session], api_key: str
    ) -> None:
        app = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
        response = app.test_client().post("/v1/calls", json=[{"to": n} for n in numbers(3)],
                                          headers={"Authorization": f"Bearer {api_key}"})
        assert response.status_code == 202
        assert count(sessions, "SELECT count(*) FROM calls WHERE status = 'queued'") == 3
        deps = create_app(settings).extensions["dispatcher"]
        assert requeue.requeue_stale(sessions, deps.admissions, timedelta(0)) == 3
        assert len(queued_messages(settings)) == 3

    def test_a_batch_key_leaves_room_for_the_call_index(self, client: FlaskClient) -> None:
        response = post_call(client, [{"to": NUMBER}], **{"Idempotency-Key": "k" * 255})
        assert response.status_code == 400
        assert response.get_json()["error"]["field"] == "Idempotency-Key"
        assert post_call(client, [{"to": NUMBER}],
                         **{"Idempotency-Key": "k" * 251}).status_code == 202

    def test_a_batch_that_would_pass_the_keys_call_limit_is_refused_whole(
        self, app: Flask, sessions: sessionmaker[Session]
    ) -> None:
        _, key = api_keys.create_api_key(sessions, "small", max_active_calls=3)
        client = signed_in(app, key)
        assert post_call(client, [{"to": n} for n in numbers(2)]).status_code == 202
        assert post_call(client, [{"to": n} for n in numbers(2, 2000)]).status_code == 429
        assert count(sessions, "SELECT count(*) FROM calls") == 2
        assert post_call(client, [{"to": NUMBER}]).status_code == 202


class TestRead:
    def test_get_one_call_and_404s(self, client: FlaskClient) -> None:
        call = post_call(client, {"to": NUMBER}).get_json()
        assert client.get(f"/v1/calls/{call['id']}").get_json()["id"] == call["id"]
        assert client.get(f"/v1/calls/{uuid.uuid4()}").status_code == 404
        assert client.get("/v1/calls/not-a-uuid").status_code == 404
        assert client.get(f"/v1/calls/{call['id']}/events").get_json() == {"data": []}

    def test_listing_pages_through_every_call_once_newest_first(
        self, client: FlaskClient
    ) -> None:
        ids = [post_call(client, {"to": f"0912123{1000 + i}"}).get_json()["id"] for i in range(7)]
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            query = "/v1/calls?limit=3" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(query).get_json()
            seen += [c["id"] for c in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == list(reversed(ids))

    def test_listing_filters(self, client: FlaskClient, sessions: sessionmaker[Session]) -> None:
        a = post_call(client, {"to": "09121231001"}).get_json()
        post_call(client, {"to": "09121232001"})
        with sessions.begin() as session:
            session.execute(update(CallRow).where(CallRow.id == uuid.UUID(a["id"]))
                            .values(status="busy"))
        busy = client.get("/v1/calls?status=busy").get_json()["data"]
        assert [c["id"] for c in busy] == [a["id"]]
        by_to = client.get("/v1/calls?to=09121231001").get_json()["data"]
        assert [c["id"] for c in by_to] == [a["id"]]
        future = datetime(2100, 1, 1, tzinfo=UTC).isoformat().replace("+", "%2B")
        assert client.get(f"/v1/calls?created_after={future}").get_json()["data"] == []
        assert client.get("/v1/calls?status=nope").status_code == 422
        assert client.get("/v1/calls?limit=0").status_code == 422
        assert client.get("/v1/calls?cursor=garbage").status_code == 400

    def test_openapi_describes_every_endpoint(self, app: Flask) -> None:
        """Every API route and method is in the document (the pages for people are not)."""
        spec = app.test_client().get("/openapi.json").get_json()
        for_people = ("/docs", "/ops", "/static", "/openapi.json")
        routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
                  for rule in app.url_map.iter_rules()
                  if not rule.rule.startswith(for_people)
                  for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
        documented = {(path, method) for path, item in spec["paths"].items()
                      for method in item if method in ("get", "post", "patch", "delete")}
        assert routes - documented == set()

    def test_people_read_the_document_at_docs_with_no_internet(self, app: Flask) -> None:
        anonymous = app.test_client()
        page = anonymous.get("/docs")
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert "https://" not in html and "http://" not in html  # nothing from a CDN
        for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
            fetched = anonymous.get(asset)
            assert fetched.status_code == 200, asset
            assert fetched.content_length or fetched.get_data()
        assert 'data-spec="/openapi.json"' in html
        assert anonymous.get("/docs/assets/index.html").status_code == 404

    def test_readiness_names_what_is_down(self, app: Flask) -> None:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        checks = response.get_json()["checks"]
        assert checks["postgresql"] == "ok" and checks["redis"] == "ok"
        assert checks["ami"].startswith("error")


class TestCancel:
    def test_a_queued_call_is_canceled_and_never_claimable(
        self, client: FlaskClient, sessions: sessionmaker[Session]
    ) -> None:
        call = post_call(client, {"to": NUMBER}).get_json()
        response = client.post(f"/v1/calls/{call['id']}/cancel")
        assert response.status_code == 200 and response.get_json()["status"] == "canceled"
        with raw_transaction(engine_of(sessions)) as cursor:
            assert claim_call(cursor, uuid.UUID(call["id"]), uuid.uuid4()) is None
        assert client.post(f"/v1/calls/{call['id']}/cancel").status_code == 409

    def test_a_dialling_call_gets_a_hangup_task(
        self, client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
    ) -> None:
        call = post_call(client, {"to": NUMBER}).get_json()
        with sessions.begin() as session:
            session.execute(update(CallRow).where(CallRow.id == uuid.UUID(call["id"]))
                            .values(status="ringing", attempt_id=uuid.uuid4()))
        response = client.post(f"/v1/calls/{call['id']}/cancel")
        assert response.status_code == 202 and response.get_json()["cancel_requested"] is True
        tasks = [m["headers"]["task"] for m in queued_messages(settings)]
        assert tasks.count("dispatcher.hangup_call") == 1


class TestCancelDuringAnOutage:
    def test_a_hangup_that_cannot_be_queued_is_a_503_and_a_retry_sends_it(
        self, settings: Settings, sessions: sessionmaker[Session], api_key: str
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"}
        ok_app = create_app(settings)
        call = ok_app.test_client().post("/v1/calls", json={"to": NUMBER},
                                         headers=headers).get_json()
        with sessions.begin() as session:
            session.execute(update(CallRow).where(CallRow.id == uuid.UUID(call["id"]))
                            .values(status="ringing", attempt_id=uuid.uuid4()))
        down = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
        response = down.test_client().post(f"/v1/calls/{call['id']}/cancel", headers=headers)
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        again = ok_app.test_client().post(f"/v1/calls/{call['id']}/cancel", headers=headers)
        assert again.status_code == 202 and again.get_json()["cancel_requested"] is True
        tasks = [m["headers"]["task"] for m in queued_messages(settings)]
        assert tasks.count("dispatcher.hangup_call") == 1


class TestKeys:
    def test_read_only_keys_can_read_but_not_place_or_cancel_calls(
        self, app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
    ) -> None:
        call = post_call(client, {"to": NUMBER}).get_json()
        _, key = api_keys.create_api_key(sessions, "viewer", scopes=("calls:read",))
        viewer = signed_in(app, key)
        assert viewer.get(f"/v1/calls/{call['id']}").status_code == 200
        refused = viewer.post("/v1/calls", json={"to": NUMBER})
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
        assert viewer.post(f"/v1/calls/{call['id']}/cancel").status_code == 403

    def test_a_tool_replacing_its_key_revokes_only_its_own_older_keys(
        self, sessions: sessionmaker[Session]
    ) -> None:
        _, first = api_keys.create_api_key(sessions, "make-run")
        _, someone_elses = api_keys.create_api_key(sessions, "reports")
        _, second = api_keys.replace_named(sessions, "make-run")
        assert api_keys.authenticate(sessions, first) is None
        assert api_keys.authenticate(sessions, second) is not None
        assert api_keys.authenticate(sessions, someone_elses) is not None

    def test_revoked_expired_and_unknown_keys_get_the_same_answer(
        self, app: Flask, sessions: sessionmaker[Session]
    ) -> None:
        from dispatcher.adapters.db.api_keys import ApiKeyRepository

        revoked_row, revoked = api_keys.create_api_key(sessions, "old")
        with sessions.begin() as session:
            assert ApiKeyRepository(session).revoke(revoked_row.prefix) == 1
        _, expired = api_keys.create_api_key(sessions, "temp", expires_in=timedelta(-1))
        answers = []
        for key in (revoked, expired, "dsp_no-such-key"):
            response = app.test_client().get("/v1/calls",
                                             headers={"Authorization": f"Bearer {key}"})
            answers.append((response.status_code, response.get_json()))
        assert answers[0] == answers[1] == answers[2]
        assert answers[0][0] == 401

    def test_the_key_that_placed_and_the_key_that_canceled_are_recorded(
        self, app: Flask, client: FlaskClient, sessions: sessionmaker[Session], api_key: str
    ) -> None:
        call = post_call(client, {"to": NUMBER}).get_json()
        other_row, other = api_keys.create_api_key(sessions, "supervisor")
        supervisor = signed_in(app, other)
        canceled = supervisor.post(f"/v1/calls/{call['id']}/cancel").get_json()
        assert canceled["placed_by"] == call["placed_by"] is not None
        assert canceled["canceled_by"] == str(other_row.id)


class TestLimits:
    def test_a_key_over_its_request_rate_gets_429_with_retry_after(
        self, app: Flask, sessions: sessionmaker[Session]
    ) -> None:
        _, key = api_keys.create_api_key(sessions, "slow", rate_limit=3)
        client = signed_in(app, key)
        codes = []
        for _ in range(8):
            response = client.get("/v1/calls")
            codes.append(response.status_code)
            if response.status_code == 429:
                assert response.headers["Retry-After"] == "1"
                assert response.get_json()["error"]["code"] == "rate-limited"
        assert codes.count(200) >= 3 and 429 in codes

    def test_a_key_at_its_concurrent_calls_limit_gets_429_and_nothing_is_written(
        self, app: Flask, sessions: sessionmaker[Session]
    ) -> None:
        _, key = api_keys.create_api_key(sessions, "small", max_active_calls=2)
        client = signed_in(app, key)
        assert [post_call(client, {"to": NUMBER}).status_code for _ in range(2)] == [202, 202]
        refused = post_call(client, {"to": NUMBER})
        assert refused.status_code == 429
        assert count(sessions, "SELECT count(*) FROM calls") == 2


# Numbers phonenumbers takes as valid Tehran fixed lines (national 0211234, 02121234) but the
# default ASTERISK_DIAL_PATTERNS (_09XXXXXXXXX, _0[1-8]XXXXXXXXX) do not: Asterisk would create
# both halves of the Local channel and then fail the call.
UNDIALLED = ["+98211234", "+982121234"]


class TestDialPatterns:
    @pytest.mark.parametrize("to", UNDIALLED)
    def test_a_number_the_dialplan_refuses_gets_422_naming_the_setting(
        self, client: FlaskClient, settings: Settings, sessions: sessionmaker[Session], to: str
    ) -> None:
        response = post_call(client, {"to": to})
        assert response.status_code == 422
        error = response.get_json()["error"]
        assert error["field"] == "to"
        assert "ASTERISK_DIAL_PATTERNS (_09XXXXXXXXX, _0[1-8]XXXXXXXXX)" in error["message"]
        national = "0" + to.removeprefix("+98")
        assert f"national form {national} matches none" in error["message"]
        assert count(sessions, "SELECT count(*) FROM calls") == 0
        assert queued_messages(settings) == []

    def test_in_a_batch_the_call_is_named_by_its_index(
        self, client: FlaskClient, settings: Settings, sessions: sessionmaker[Session]
    ) -> None:
        body = [{"to": n} for n in numbers(3)] + [{"to": UNDIALLED[0]}]
        response = post_call(client, body)
        assert response.status_code == 422
        assert response.get_json()["error"]["field"] == "[3].to"
        assert "ASTERISK_DIAL_PATTERNS" in response.get_json()["error"]["message"]
        assert count(sessions, "SELECT count(*) FROM calls") == 0
        assert queued_messages(settings) == []

    def test_patterns_that_admit_them_let_them_through(
        self, settings: Settings, api_key: str, sessions: sessionmaker[Session]
    ) -> None:
        wider = replace(settings, dial_patterns="_09XXXXXXXXX,_0[1-8]XXXXXXXXX,_021XXXX!")
        client = signed_in(create_app(wider), api_key)
        for to in UNDIALLED:
            assert post_call(client, {"to": to}).status_code == 202
        response = post_call(client, [{"to": to} for to in UNDIALLED])
        assert response.status_code == 202
        assert count(sessions, "SELECT count(*) FROM calls") == 4


# One name of each kind the dialplan reads or Asterisk gives a meaning to, spelled as a client
# might: with inheritance underscores and in lower case.
RESERVED_NAMES = [
    "TRUNK_LINES", "__TRUNK_LINES", "_TRUNK_LINES", "trunk_lines", "__max_call_seconds",
    "ANSWER_SOUND", "__DEFAULT_CALLER_ID", "CALL_ID", "__call_id", "OUTBOUND_GROUP",
    "__OUTBOUND_GROUP_ONCE", "GROUP", "_group_trunk", "TRANSFER_CONTEXT", "__FORWARD_CONTEXT",
    "DYNAMIC_FEATURES", "__BRIDGE_FEATURES", "LIMIT_WARNING_FILE", "DIALSTATUS",
    "HANGUPCAUSE", "hangupcause_keys", "MACRO_EXTEN", "__GOSUB_RETVAL", "CDR_PROP", "CHANNEL",
    "channel_name", "AST_SIP_HEADER", "PJSIP_HEADER", "__SIPADDHEADER01", "SIP_CODEC",
    "MASTER_CHANNEL", "CALLERID_NUM", "CONNECTEDLINE", "__CONNECTED_LINE_SEND_SUB",
    "REDIRECTING_SEND_SUB", "FAXOPT", "MIXMONITOR_FILENAME", "monitor_exec",
    "AUDIOHOOK_INHERIT", "TOUCH_MIXMONITOR", "BLINDTRANSFER", "ATTENDEDTRANSFER",
    "BRIDGEPEER", "DIALEDPEERNUMBER", "PICKUPMARK", "SPRINTF", "EXTEN", "__ARG1",
    "PARKINGLOT", "GOTO_ON_BLINDXFR",
]


class TestReservedVariables:
    @pytest.mark.parametrize("name", RESERVED_NAMES)
    def test_a_name_the_dialplan_or_asterisk_reads_gets_422_naming_it(
        self, client: FlaskClient, settings: Settings, sessions: sessionmaker[Session],
        name: str
    ) -> None:
        response = post_call(client, {"to": NUMBER, "variables": {"ORDER": "7", name: "9999"}})
        assert response.status_code == 422
        error = response.get_json()["error"]
        assert error["field"] == f"variables.{name}"
        assert repr(name) in error["message"] and "reserved" in error["message"]
        assert count(sessions, "SELECT count(*) FROM calls") == 0
        assert queued_messages(settings) == []

    def test_in_a_batch_the_call_is_named_by_its_index(
        self, client: FlaskClient, sessions: sessionmaker[Session]
    ) -> None:
        body = [{"to": NUMBER}, {"to": NUMBER, "variables": {"__TRUNK_LINES": "9999"}}]
        response = post_call(client, body)
        assert response.status_code == 422
        assert response.get_json()["error"]["field"] == "[1].variables.__TRUNK_LINES"
        assert count(sessions, "SELECT count(*) FROM calls") == 0

    def test_ordinary_names_are_still_taken(self, client: FlaskClient) -> None:
        variables = {"ORDER_ID": "7", "__CUSTOMER": "Ali", "_attempt": "2", "team": "b",
                     "LANG": "fa", "TRUNK": "x", "LINES_LEFT": "3", "CALLBACK_URL_ID": "9"}
        response = post_call(client, {"to": NUMBER, "variables": variables})
        assert response.status_code == 202, response.get_json()
        assert response.get_json()["variables"] == variables
