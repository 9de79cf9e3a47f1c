"""A process that dies between giving a call a line and publishing its task.

The event consumer, freeing the line of a call that ended, admits the next call waiting for
it, then publishes that call's task. Killed in between (here with SIGKILL at that very step),
it leaves a call that holds a line with no task on its way. The sweeper must send the task
again well before the lease expires, without dialling anything twice or using a second line.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from dispatcher.adapters.redis.capacity import TrunkCapacity
from dispatcher.devstack.embedded import EmbeddedPostgres
from dispatcher.devstack.faults import AFTER_ADMISSION
from pbxsim import SimConfig
from tests.support.stackproc import Stack, running_stack, start_consumer

pytestmark = pytest.mark.e2e
LEASE_SECONDS = 60


@pytest.fixture
def stack(postgres: EmbeddedPostgres, migrated_template: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = SimConfig(users={"dispatcher": "worker-secret", "events": "events-secret"},
                       lines=1, ring_delay=0.01, answer_delay=0.05, talk_time=1.0,
                       cdr_events=False, cel_events=False)
    env = {"DISPATCHER_TRUNK_LINES": "1",
           "DISPATCHER_ADMIT_LEASE_SECONDS": str(LEASE_SECONDS),
           "DISPATCHER_PUBLISH_RETRY_AFTER": "3"}
    with running_stack(postgres, migrated_template, redis_url,
                       tmp_path_factory.mktemp("admission-fault-logs"), config, env,
                       beat=True) as stack:
        yield stack


def wait_for(what: str, check: Callable[[], bool], stack: Stack, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, (
            f"never {what}\nevents:\n{stack.group.tail('events')}\n"
            f"worker:\n{stack.group.tail('worker')}")
        time.sleep(0.1)


def test_a_call_admitted_by_a_consumer_that_died_before_publishing_is_still_dialled_once(
        stack: Stack, redis_url: str) -> None:
    stack.group.stop("events")
    start_consumer(stack.group, extra_env={"DISPATCHER_FAULT_KILL_AT": AFTER_ADMISSION,
                                           "DISPATCHER_FAULT_KILL_RATE": "1"})
    consumer = stack.group.procs["events"]
    trunk = TrunkCapacity(redis.Redis.from_url(redis_url), f"trunk-{stack.queue}", 1)
    wait_for("watched", lambda: trunk.usage().watched and trunk.usage().in_use == 0, stack)
    first = stack.post({"to": "+989121231001"}).json()["id"]  # answered, talks 1 s
    second = stack.post({"to": "+989121231002"}).json()["id"]  # waits for the one line
    assert trunk.waiting() == [uuid.UUID(second)]

    # The first call ends; the consumer frees its line, admits the second and dies.
    wait_for("killed at the admission", lambda: consumer.poll() is not None, stack)
    admitted_at = time.monotonic()
    assert trunk.holders() == [uuid.UUID(second)] and trunk.waiting() == []
    stack.group.procs.pop("events")
    start_consumer(stack.group)

    # Well before the lease would expire (and the old sweeper put the call back in line).
    rows = {str(r.id): r for r in stack.wait_final({first, second},
                                                   deadline=LEASE_SECONDS / 2)}
    waited = time.monotonic() - admitted_at
    assert (rows[first].status, rows[second].status) == ("completed", "completed")
    assert stack.originates_per_call() == {first: 1, second: 1}
    assert stack.sim.max_live_channels == 1
    assert "never taken up; sending its task again" in stack.group.tail("worker", 400)
    print(f"\nthe orphaned call was dialled {waited:.1f} s after its admission "
          f"(its lease: {LEASE_SECONDS} s)")
