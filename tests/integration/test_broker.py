"""Publishing through kombu's Redis transport with one redis-py client per connection pool."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest
import redis
from kombu.transport import redis as kombu_redis

from dispatcher.adapters.celery_sender import CeleryPublisher


@pytest.fixture
def made_clients(monkeypatch: pytest.MonkeyPatch) -> list[redis.Redis]:
    """Every redis-py client kombu's channels build."""
    made: list[redis.Redis] = []
    original = kombu_redis.Channel._create_client

    def counting(self: kombu_redis.Channel, asynchronous: bool = False) -> redis.Redis:
        client: redis.Redis = original(self, asynchronous)
        made.append(client)
        return client

    monkeypatch.setattr(kombu_redis.Channel, "_create_client", counting)
    return made


def test_many_publishes_share_one_client_and_all_arrive(
        redis_url: str, made_clients: list[redis.Redis]) -> None:
    publisher = CeleryPublisher(redis_url)
    publisher.warm_up()
    queue = f"broker-{uuid.uuid4().hex[:8]}"
    made_clients.clear()
    for i in range(50):
        publisher.send("dispatcher.test", [str(i)], queue)
    assert len(made_clients) <= 1
    assert redis.Redis.from_url(redis_url).llen(queue) == 50


def _publish_in_child(redis_url: str, queue: str, publisher: CeleryPublisher) -> None:
    publisher.send("dispatcher.test", ["child"], queue)


def test_publishing_goes_on_in_a_forked_child_and_in_its_parent(redis_url: str) -> None:
    """The shared client is state kombu did not have: publishing must still work in a forked
    child (Celery's pool children and gunicorn's workers are forks) and, afterwards, in the
    parent, with every message delivered once."""
    publisher = CeleryPublisher(redis_url)
    queue = f"broker-{uuid.uuid4().hex[:8]}"
    publisher.send("dispatcher.test", ["parent"], queue)
    child = multiprocessing.get_context("fork").Process(
        target=_publish_in_child, args=(redis_url, queue, publisher))
    child.start()
    child.join(20)
    assert child.exitcode == 0
    publisher.send("dispatcher.test", ["parent again"], queue)
    assert redis.Redis.from_url(redis_url).llen(queue) == 3
