"""End to end: HTTP → PostgreSQL → Redis → Celery worker processes → AMI over TCP (simulator)
→ event consumer → PostgreSQL, with every component a real process or server."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from stackproc import ProcessGroup, start_consumer, start_web, start_worker

from dispatcher import services
from dispatcher.db.engine import make_engine, make_session_factory
from dispatcher.db.tables import CallRow
from dispatcher.embedded import EmbeddedPostgres, free_port
from dispatcher.pbxsim import PBXSimulator, SimConfig
from dispatcher.status import FINAL_STATUSES

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


@dataclass
class Stack:
    base: str
    key: str
    sim: PBXSimulator
    sessions: sessionmaker[Session]
    group: ProcessGroup

    def post(self, body: dict[str, object]) -> requests.Response:
        return requests.post(f"{self.base}/v1/calls", json=body, timeout=10,
                             headers={"Authorization": f"Bearer {self.key}"})

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base}{path}", timeout=10,
                            headers={"Authorization": f"Bearer {self.key}"})

    def cancel(self, call_id: str) -> requests.Response:
        return requests.post(f"{self.base}/v1/calls/{call_id}/cancel", timeout=10,
                             headers={"Authorization": f"Bearer {self.key}"})

    def rows(self) -> list[CallRow]:
        with self.sessions() as session:
            return list(session.scalars(select(CallRow)))

    def wait_final(self, ids: set[str], deadline: float) -> list[CallRow]:
        end = time.monotonic() + deadline
        while True:
            rows = [r for r in self.rows() if str(r.id) in ids]
            if len(rows) == len(ids) and all(r.status in FINAL_STATUSES for r in rows):
                return rows
            if time.monotonic() > end:
                pending = Counter(r.status for r in rows if r.status not in FINAL_STATUSES)
                raise AssertionError(f"calls not final after {deadline}s: {pending}\n"
                                     f"worker:\n{self.group.tail('worker')}\n"
                                     f"events:\n{self.group.tail('events')}")
            self.group.check_alive()
            time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, migrated_template: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    postgres.server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}";')
    database_url = postgres.url_for(name)
    sim = PBXSimulator(SimConfig(
        users={"dispatcher": "worker-secret", "events": "events-secret"}, lines=30,
        ring_delay=0.01, answer_delay=0.2, talk_time=0.3, timeout_408=0.5, seed=7))
    sim.start()
    queue = f"e2e-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "DISPATCHER_AMI_HOST": "127.0.0.1", "DISPATCHER_AMI_PORT": str(sim.port),
        "DISPATCHER_AMI_USERNAME": "dispatcher", "DISPATCHER_AMI_SECRET": "worker-secret",
        "DISPATCHER_AMI_EVENTS_USERNAME": "events", "DISPATCHER_AMI_EVENTS_SECRET": "events-secret",
        "DISPATCHER_QUEUE_NAME": queue, "DISPATCHER_RECONCILE_INTERVAL": "5",
    }
    logdir = tmp_path_factory.mktemp("e2e-logs")
    group = ProcessGroup(Path(logdir), env)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        start_consumer(group)
        start_worker(group, queue)
        base = start_web(group, free_port())
        key = services.create_api_key(sessions, "e2e")[1]
        yield Stack(base, key, sim, sessions, group)
    finally:
        group.stop_all()
        sim.stop()
        engine.dispose()


def number(kind: str, i: int) -> str:
    return f"+98912{i % 1000:03d}{kind}{i % 1000:03d}"


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
