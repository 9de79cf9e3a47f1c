"""Line capacity end to end: real worker processes, real Redis, the simulator counting lines."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from dispatcher.adapters.ami.manager import WorkerAMISession
from dispatcher.adapters.ami.originate import OriginateRequest
from dispatcher.config import AMIEndpoint
from dispatcher.devstack.embedded import EmbeddedPostgres
from pbxsim import SimConfig
from tests.support.stackproc import Stack, running_stack

pytestmark = pytest.mark.e2e
LINES = 3


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, migrated_template: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = SimConfig(users={"dispatcher": "worker-secret", "events": "events-secret"},
                       lines=LINES, ring_delay=0.01, answer_delay=0.1, talk_time=0.3)
    with running_stack(postgres, migrated_template, redis_url,
                       tmp_path_factory.mktemp("cap-logs"), config,
                       {"DISPATCHER_TRUNK_LINES": str(LINES),
                        "DISPATCHER_RECONCILE_INTERVAL": "1",
                        "DISPATCHER_RECONCILE_GRACE": "2"}, concurrency=4) as stack:
        yield stack


def trunk(stack: Stack) -> dict[str, Any]:
    only: dict[str, Any]
    [only] = stack.get("/v1/trunks").json()["data"]
    return only


def test_ten_times_more_calls_than_lines_never_exceed_the_lines(stack: Stack) -> None:
    bodies = [{"to": f"+98912{i:03d}1{i:03d}"} for i in range(10 * LINES)]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(stack.post, bodies))
    assert {r.status_code for r in responses} == {202}
    waiting = trunk(stack)
    assert waiting["lines_total"] == LINES and waiting["lines_in_use"] <= LINES
    rows = stack.wait_final({r.json()["id"] for r in responses}, deadline=60)
    assert {(r.status, r.outcome) for r in rows} == {("completed", "answered")}
    assert stack.sim.max_live_channels == LINES  # every line was used, none over
    assert set(stack.sim.originate_counts().values()) == {1}
    idle = trunk(stack)
    assert idle["lines_in_use"] == 0 and idle["calls_waiting"] == 0
    assert idle["ami"] == "connected" and idle["calls_per_second_last_minute"] > 0


def test_a_batch_of_ten_times_the_lines_is_dialled_once_each_never_above_them(
        stack: Stack) -> None:
    numbers = [f"+98913{i:03d}1{i:03d}" for i in range(10 * LINES)]
    response = requests.post(f"{stack.base}/v1/calls", json=[{"to": n} for n in numbers],
                             headers={"Authorization": f"Bearer {stack.key}"}, timeout=10)
    assert response.status_code == 202
    calls = response.json()["data"]
    assert [c["to"] for c in calls] == numbers
    rows = stack.wait_final({c["id"] for c in calls}, deadline=60)
    assert {(r.status, r.outcome) for r in rows} == {("completed", "answered")}
    assert stack.sim.max_live_channels == LINES
    assert set(stack.sim.originate_counts().values()) == {1}


def test_live_channels_that_are_not_ours_take_lines_away(stack: Stack) -> None:
    other = WorkerAMISession(AMIEndpoint("127.0.0.1", stack.sim.port, "dispatcher",
                                         "worker-secret"))
    try:
        foreign = str(uuid.uuid4())
        other.originate(OriginateRequest(
            action_id=foreign, channel="PJSIP/09121235001@carrier-trunk", timeout_s=30,
            context="dispatcher-answered", exten="s", priority=1))
        end = time.monotonic() + 15
        while trunk(stack)["lines_in_use_by_others"] != 1:
            assert time.monotonic() < end, "reconciliation never saw the foreign call"
            time.sleep(0.2)
        before = stack.sim.max_live_channels
        responses = [stack.post({"to": f"+98912{i:03d}1{i:03d}"}) for i in range(100, 106)]
        stack.wait_final({r.json()["id"] for r in responses}, deadline=60)
        assert stack.sim.max_live_channels <= max(before, LINES)
    finally:
        other.hangup(foreign)
        other.close()
