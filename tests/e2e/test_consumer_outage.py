"""The event consumer stops for 10 s while 100 calls are in progress and more are starting:
after it restarts and reconciles, every call's final state is right."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from dispatcher.devstack.embedded import EmbeddedPostgres
from pbxsim import SimConfig
from tests.support.stackproc import Stack, running_stack, start_consumer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, migrated_template: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = SimConfig(users={"dispatcher": "worker-secret", "events": "events-secret"},
                       lines=100, ring_delay=0.01, answer_delay=0.2, talk_time=3.0,
                       cel_events=False)
    env = {"DISPATCHER_TRUNK_LINES": "100", "DISPATCHER_RECONCILE_GRACE": "2",
           "DISPATCHER_RECONCILE_INTERVAL": "2"}
    with running_stack(postgres, migrated_template, redis_url,
                       tmp_path_factory.mktemp("outage-logs"), config, env, cdr=True,
                       beat=True) as stack:
        yield stack


def test_calls_that_end_while_the_consumer_is_down_are_settled_right(stack: Stack) -> None:
    kinds = ["1", "1", "1", "2", "3", "9"]  # mostly answered, some busy/congestion/404
    bodies = [{"to": f"+98912{i:03d}{kinds[i % len(kinds)]}{i:03d}"} for i in range(130)]
    with ThreadPoolExecutor(8) as pool:
        first = list(pool.map(stack.post, bodies[:100]))
    time.sleep(0.5)  # the first hundred are ringing or talking
    stack.group.stop("events")
    rest = [stack.post(body) for body in bodies[100:]]  # more start while nobody listens
    time.sleep(10)
    start_consumer(stack.group)
    responses = first + rest
    rows = stack.wait_final({r.json()["id"] for r in responses}, deadline=90)
    expected = {"1": ("completed", "answered"), "2": ("busy", "busy"),
                "3": ("failed", "congestion"), "9": ("failed", "invalid-number")}
    by_id = {str(r.id): r for r in rows}
    wrong = []
    for body, response in zip(bodies, responses, strict=True):
        row = by_id[response.json()["id"]]
        want = expected[str(body["to"])[-4]]
        if (row.status, row.outcome) != want:
            wrong.append((body["to"], row.status, row.outcome))
    print("\noutcomes:", Counter((r.status, r.outcome) for r in rows))
    assert wrong == []
