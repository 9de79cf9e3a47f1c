"""One way to reach Redis from a URL, so a managed Redis or a Sentinel setup works everywhere.

Celery (kombu) already understands ``sentinel://host:port;sentinel://host2:port/db`` with the
master's name in its transport options; redis-py's ``from_url`` does not, so the code that uses
Redis directly (line capacity) goes through here and accepts the same URLs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SOCKET_OPTIONS: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 2,
                                  "health_check_interval": 30}


def is_sentinel(url: str) -> bool:
    return url.startswith("sentinel://")


def sentinel_hosts(url: str) -> tuple[list[tuple[str, int]], int, str | None]:
    """Parse kombu's Sentinel URL form into (sentinels, db, password)."""
    hosts: list[tuple[str, int]] = []
    db = 0
    password = None
    for part in url.split(";"):
        parsed = urlsplit(part.strip())
        if parsed.scheme != "sentinel" or not parsed.hostname:
            raise ValueError(f"not a sentinel URL: {part!r}")
        hosts.append((parsed.hostname, parsed.port or 26379))
        if parsed.password:
            password = unquote(parsed.password)
        if parsed.path.strip("/"):
            db = int(parsed.path.strip("/"))
    return hosts, db, password


def redis_from_url(url: str, *, sentinel_master: str = "mymaster") -> redis.Redis:
    """A client for ``redis://``, ``rediss://``, ``unix://`` or ``sentinel://`` URLs."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **SOCKET_OPTIONS)
    hosts, db, password = sentinel_hosts(url)
    sentinel = Sentinel(hosts, sentinel_kwargs={"password": password} if password else None,
                        socket_timeout=SOCKET_OPTIONS["socket_timeout"])
    return sentinel.master_for(sentinel_master, db=db, password=password, **SOCKET_OPTIONS)


def broker_transport_options(url: str, sentinel_master: str = "mymaster") -> dict[str, Any]:
    """Celery broker options that go with ``url`` (the master name, for Sentinel)."""
    options: dict[str, Any] = {"visibility_timeout": 3600}
    if is_sentinel(url):
        options["master_name"] = sentinel_master
    return options
