"""Bearer API keys: random, shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from flask import g, request
from redis.exceptions import RedisError

from dispatcher.domain.errors import Forbidden, TooManyRequests, Unauthorized
from dispatcher.usecases import api_keys
from web.deps import deps


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    scopes: frozenset[str]
    rate_limit: int | None = None
    max_active_calls: int | None = None


class KeyCache:
    """Remember recent successful lookups for a few seconds, keyed by the key's hash.

    Every request would otherwise cost a database round trip before any work is done; the
    price is that a revoked key keeps working for at most ``ttl`` seconds in each process.
    Failed lookups are never cached, so a new key works at once.
    """

    def __init__(self, ttl: float = 10.0, size: int = 1024) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Principal]] = {}

    def lookup(self, token: str) -> Principal | None:
        digest = api_keys.hash_api_key(token)
        hit = self._entries.get(digest)
        now = time.monotonic()
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        key = api_keys.authenticate(deps().sessions, token)
        if key is None:
            self._entries.pop(digest, None)
            return None
        if len(self._entries) >= self.size:
            self._entries.clear()
        principal = Principal(key.id, frozenset(key.scopes.split()), key.rate_limit,
                              key.max_active_calls)
        self._entries[digest] = (now, principal)
        return principal


_cache = KeyCache()


def lookup_key(token: str) -> Principal | None:
    """Who ``token`` is (cached briefly), or None: for pages that sign in with a form."""
    return _cache.lookup(token)


def require_api_key() -> None:
    """``before_request`` hook for every protected blueprint."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <api key>'")
    principal = _cache.lookup(token.strip())
    if principal is None:
        # One answer for unknown, revoked and expired keys: nothing to learn by probing.
        raise Unauthorized("invalid API key")
    needed = "calls:read" if request.method in ("GET", "HEAD") else "calls:write"
    if needed not in principal.scopes:
        raise Forbidden(f"this API key lacks the {needed} scope")
    if principal.rate_limit:
        _check_rate(principal)
    g.api_key_id = principal.key_id
    g.principal = principal


def _check_rate(principal: Principal) -> None:
    """A per-second window per key, counted in Redis so every web process shares it. With
    Redis away the limit is not enforced rather than refusing every request."""
    window = int(time.time())
    key = f"dispatcher:rate:{principal.key_id}:{window}"
    try:
        pipe = deps().redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, 2)
        count = pipe.execute()[0]
    except RedisError:
        return
    if count > (principal.rate_limit or 0):
        raise TooManyRequests(f"more than {principal.rate_limit} requests per second for "
                              "this API key; retry shortly")
