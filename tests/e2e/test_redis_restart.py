"""Redis (with AOF) restarts while calls wait for lines: none is lost, none dialled twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher.devstack.embedded import EmbeddedPostgres, EmbeddedRedis, wait_for_port
from pbxsim import SimConfig
from tests.support.stackproc import Stack, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("restart-redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, migrated_template: str, own_redis: EmbeddedRedis,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = SimConfig(users={"dispatcher": "worker-secret", "events": "events-secret"},
                       ring_delay=0.01, answer_delay=0.1, talk_time=1.0, cel_events=False)
    env = {"DISPATCHER_TRUNK_LINES": "3", "DISPATCHER_PUBLISH_RETRY_AFTER": "3",
           "DISPATCHER_ADMIT_LEASE_SECONDS": "5", "DISPATCHER_RECONCILE_INTERVAL": "2"}
    with running_stack(postgres, migrated_template, own_redis.url,
                       tmp_path_factory.mktemp("restart-logs"), config, env,
                       beat=True) as stack:
        yield stack


def test_queued_calls_survive_a_redis_restart(stack: Stack, own_redis: EmbeddedRedis) -> None:
    responses = [stack.post({"to": f"+98912{i:03d}1{i:03d}"}) for i in range(24)]
    assert {r.status_code for r in responses} == {202}
    time.sleep(1.5)  # three lines busy, the rest waiting in Redis
    own_redis.stop()  # SIGTERM: Redis writes its AOF and exits
    time.sleep(2)
    own_redis.start()  # same port, same data folder
    wait_for_port("127.0.0.1", own_redis.port, 10)
    rows = stack.wait_final({r.json()["id"] for r in responses}, deadline=120)
    assert {(r.status, r.outcome) for r in rows} == {("completed", "answered")}
    assert set(stack.sim.originate_counts().values()) == {1}
    assert stack.sim.max_live_channels <= 3
