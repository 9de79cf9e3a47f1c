"""Fault tests: worker processes killed with SIGKILL at every step of a dial, over 500 calls.

0 calls originated twice (the simulator counts Originates per call), 0 calls lost: every call
ends in a final status, or in ``failed``/``unresolved`` when its worker died between the claim
and the Originate, which is reported, never redialled.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from dispatcher.devstack.embedded import EmbeddedPostgres
from dispatcher.devstack.faults import STEPS
from pbxsim import SimConfig
from tests.support.stackproc import Stack, running_stack, start_worker

pytestmark = pytest.mark.e2e
CALLS = 500


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, migrated_template: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = SimConfig(users={"dispatcher": "worker-secret", "events": "events-secret"},
                       lines=30, ring_delay=0.01, answer_delay=0.05, talk_time=0.2,
                       cdr_events=False, cel_events=False)
    env = {
        "DISPATCHER_FAULT_KILL_AT": ",".join(STEPS), "DISPATCHER_FAULT_KILL_RATE": "0.04",
        "DISPATCHER_ADMIT_LEASE_SECONDS": "5", "DISPATCHER_PUBLISH_RETRY_AFTER": "3",
        "DISPATCHER_RECONCILE_GRACE": "3", "DISPATCHER_RECONCILE_INTERVAL": "2",
        "DISPATCHER_CAMPAIGN_UPLOAD_GRACE": "1",
    }
    with running_stack(postgres, migrated_template, redis_url,
                       tmp_path_factory.mktemp("fault-logs"), config, env, beat=True) as stack:
        yield stack


def test_killed_workers_never_dial_twice_and_lose_nothing(stack: Stack) -> None:
    bodies = [{"to": f"+98912{i % 1000:03d}1{i % 1000:03d}"} for i in range(CALLS)]
    stop = threading.Event()

    def kill_whole_worker_once() -> None:
        """Besides the children killing themselves at each step, take the whole worker down
        (main process included) once, mid-run, and start a new one."""
        if stop.wait(3):
            return
        stack.group.stop("worker", sig=signal.SIGKILL)
        start_worker(stack.group, stack.queue)

    killer = threading.Thread(target=kill_whole_worker_once, daemon=True)
    killer.start()
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(stack.post, bodies))
    assert {r.status_code for r in responses} == {202}
    rows = stack.wait_final({r.json()["id"] for r in responses}, deadline=240)
    stop.set()
    killer.join(30)

    originated = stack.originates_per_call()
    assert max(originated.values()) == 1, "a call was originated twice"
    assert set(stack.sim.originate_counts().values()) == {1}
    outcomes = Counter((r.status, r.outcome) for r in rows)
    assert set(outcomes) <= {("completed", "answered"), ("failed", "unresolved")}, outcomes
    for row in rows:
        if (row.status, row.outcome) == ("completed", "answered"):
            assert originated[str(row.id)] == 1
    unresolved = outcomes[("failed", "unresolved")]
    killed = _kills(stack)
    print(f"\n{CALLS} calls: {dict(outcomes)}; worker children killed {killed} times")
    assert killed > 0 and unresolved <= killed


def test_a_campaign_under_worker_kills_never_dials_a_contact_beyond_its_attempts(
        stack: Stack) -> None:
    """Retries come from the database, so a killed worker cannot add an attempt: each number
    is originated at most as often as its policy allows, and never more often than its
    contact's recorded attempts."""
    auth = {"Authorization": f"Bearer {stack.key}"}
    numbers = [f"0917{i:03d}{2 if i % 3 == 0 else 1}{i:03d}" for i in range(150)]
    created = requests.post(f"{stack.base}/v1/campaigns", headers=auth, timeout=10, json={
        "name": "faults", "max_lines": 20,
        "retry": {"busy": {"max_attempts": 3, "delay": 0}}})
    cid = created.json()["id"]
    body = ("to\n" + "".join(f"{n}\n" for n in numbers)).encode()
    requests.post(f"{stack.base}/v1/campaigns/{cid}/contacts", data=body, timeout=30,
                  headers={**auth, "Content-Type": "text/csv"}).raise_for_status()
    requests.post(f"{stack.base}/v1/campaigns/{cid}/start", headers=auth,
                  timeout=10).raise_for_status()
    deadline = time.monotonic() + 240
    while (state := requests.get(f"{stack.base}/v1/campaigns/{cid}", headers=auth,
                                 timeout=10).json())["status"] != "completed":
        assert time.monotonic() < deadline, state
        stack.group.check_alive()
        time.sleep(0.5)
    dialled = Counter(a["Channel"].split("/")[1].split("@")[0] for a in stack.sim.actions
                      if a.get("Action") == "Originate" and "/0917" in a["Channel"])
    contacts = {c["to"]: c for c in _contacts(stack, cid)}
    for number in numbers:
        allowed = 3 if number[-4] == "2" else 1
        contact = contacts["+98" + number[1:]]
        assert dialled[number] <= min(allowed, contact["attempts"]), (number, contact)
        assert contact["state"] == "done"
    print(f"\ncampaign under kills: {sum(dialled.values())} dials for {len(numbers)} contacts; "
          f"outcomes {state['outcomes']}")


def _contacts(stack: Stack, cid: str) -> list[dict]:
    auth = {"Authorization": f"Bearer {stack.key}"}
    rows: list[dict] = []
    cursor = None
    while True:
        page = requests.get(f"{stack.base}/v1/campaigns/{cid}/contacts", headers=auth,
                            timeout=10, params={"limit": "500",
                                                **({"cursor": cursor} if cursor else {})}
                            ).json()
        rows += page["data"]
        if not (cursor := page["next_cursor"]):
            return rows


def _kills(stack: Stack) -> int:
    """Pool children that died by SIGKILL, as the Celery main process logged them."""
    logs = "".join((stack.group.logdir / name).read_text(errors="replace")
                   for name in os.listdir(stack.group.logdir) if name.startswith("worker"))
    return logs.count("Worker exited prematurely: signal 9")

