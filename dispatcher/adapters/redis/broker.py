"""One redis-py client per kombu channel pool, instead of one per published message.

kombu's Redis transport (5.x) builds a new ``redis.Redis`` for every message it publishes
(``Channel.conn_or_acquire``), and redis-py's constructor fills a table of some 200 response
callbacks each time: a third of the CPU of a publish, about 0.4 ms per message on the 2-core
reference machine. That is paid by the web for each admitted call, by the event consumer at
every line turnover and by each worker for every task event Flower receives. The client is
only a handle on the channel's connection pool, which is thread-safe and already shared, so
one client per pool does the same work. The Sentinel channel inherits the method.

A client is tied to the pool it was made for: kombu drops its pools after a fork and on
reconnection, and the next publish then makes a client for the new pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis

_CLIENT = "_dispatcher_publish_client"


@contextmanager
def _conn_or_acquire(self: Any, client: Any = None) -> Iterator[Any]:
    if client:
        yield client
        return
    pool = self.pool
    shared = self.__dict__.get(_CLIENT)
    if shared is None or shared.connection_pool is not pool:
        shared = self._create_client()
        setattr(self, _CLIENT, shared)
    yield shared


def share_publish_clients() -> None:
    """Install the shared client (idempotent); call before the first publish."""
    kombu_redis.Channel.conn_or_acquire = _conn_or_acquire  # type: ignore[assignment]
