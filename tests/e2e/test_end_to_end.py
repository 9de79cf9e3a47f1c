"""End to end: HTTP → PostgreSQL → Redis → Celery worker processes → AMI over TCP (simulator)
→ event consumer → PostgreSQL, with every component a real process or server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from dispatcher.devstack.embedded import EmbeddedPostgres
from pbxsim import SimConfig
from tests.support.stackproc import Stack, running_stack

pytestmark = pytest.mark.e2e

# first digit of the last four → what the simulated carrier does → what we must record
PLAN = {
    "1": ("completed", "answered"),
    "2": ("busy", "busy"),
    "3": ("failed", "congestion"),
    "4": ("no-answer", "no-answer"),
    "6": ("failed", "rejected"),
    "7": ("failed", "trunk-unreachable"),
    "8": ("failed", "trunk-unreachable"),
    "9": ("failed", "invalid-number"),
}


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, migrated_template: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = SimConfig(users={"dispatcher": "worker-secret", "events": "events-secret"},
                       lines=30, ring_delay=0.01, answer_delay=0.2, talk_time=0.3,
                       timeout_408=0.5, seed=7)
    with running_stack(postgres, migrated_template, redis_url,
                       tmp_path_factory.mktemp("e2e-logs"), config) as stack:
        yield stack


def number(kind: str, i: int) -> str:
    return f"+98912{i % 1000:03d}{kind}{i % 1000:03d}"


def test_each_worker_child_logs_in_to_the_pbx_before_its_first_call(stack: Stack) -> None:
    """First in this module, before any call: every pool child opens its AMI session (and its
    database connection) at start, so the first calls after a start or a recycle do not
    wait for it."""
    deadline = time.monotonic() + 20
    while True:
        logins = [a for a in stack.sim.actions
                  if a.get("Action") == "Login" and a.get("Username") == "dispatcher"]
        if len(logins) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(logins) == 4  # --concurrency=4
    assert not [a for a in stack.sim.actions if a.get("Action") == "Originate"]


def test_a_hundred_and_twenty_calls_reach_the_right_final_state_dialled_once_each(
    stack: Stack,
) -> None:
    kinds = list(PLAN)
    bodies = [{"to": number(kinds[i % len(kinds)], i), "timeout": 5, "metadata": {"i": i}}
              for i in range(120)]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(stack.post, bodies))
    assert [r.status_code for r in responses] == [202] * len(bodies)
    ids = {r.json()["id"] for r in responses}
    rows = stack.wait_final(ids, deadline=120)

    by_id = {str(r.id): r for r in rows}
    for body, response in zip(bodies, responses, strict=True):
        row = by_id[response.json()["id"]]
        expected = PLAN[str(body["to"])[-4]]
        assert (row.status, row.outcome) == expected, (body["to"], row.hangup_cause)
        assert row.attempt_id is not None and row.dialed_at is not None
    counts = stack.sim.originate_counts()
    attempts = {str(r.attempt_id) for r in rows}
    assert {a: counts.get(a) for a in attempts} == {a: 1 for a in attempts}
    assert stack.sim.max_live_channels <= 30

    one = stack.get(f"/v1/calls/{responses[0].json()['id']}").json()
    assert one["status"] == "completed" and one["duration"] is not None
    assert one["answered_at"] and one["ended_at"] and one["metadata"] == {"i": 0}
    events = [e["name"] for e in stack.get(f"/v1/calls/{one['id']}/events").json()["data"]]
    assert events[0] == "Newchannel" and "Hangup" in events


def test_an_invalid_number_is_refused_and_never_reaches_the_pbx(stack: Stack) -> None:
    before = len(stack.sim.actions)
    response = stack.post({"to": "+98912"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "to"
    time.sleep(0.5)
    assert [a for a in stack.sim.actions[before:] if a.get("Action") == "Originate"] == []


def test_canceling_a_ringing_call_hangs_it_up(stack: Stack) -> None:
    call = stack.post({"to": number("4", 901), "timeout": 60}).json()
    end = time.monotonic() + 20
    while stack.get(f"/v1/calls/{call['id']}").json()["status"] != "ringing":
        assert time.monotonic() < end, "call never rang"
        time.sleep(0.1)
    assert stack.cancel(call["id"]).status_code == 202
    [row] = stack.wait_final({call["id"]}, deadline=20)
    assert (row.status, row.outcome, row.hangup_cause) == ("canceled", "canceled", 16)


def test_metrics_reflect_the_calls_that_flowed(stack: Stack) -> None:
    body = stack.get("/metrics").text
    values = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    assert values['dispatcher_calls{outcome="answered",status="completed"}'] >= 15
    assert values['dispatcher_calls{outcome="busy",status="busy"}'] >= 15
    trunk = next(k for k in values if k.startswith("dispatcher_trunk_lines{"))
    assert "trunk=" in trunk
    assert any(k.startswith("dispatcher_originate_latency_seconds") for k in values)
    assert [v for k, v in values.items() if k.startswith("dispatcher_ami_session_up")] == [1.0]
    assert requests.get(f"{stack.base}/metrics", timeout=5).status_code == 401
