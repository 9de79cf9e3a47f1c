"""Bearer API keys: random, shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import time
import uuid

from flask import g, request

from dispatcher import services
from dispatcher.errors import DispatcherError
from web.deps import deps


class Unauthorized(DispatcherError):
    status = 401
    code = "unauthorized"


class KeyCache:
    """Remember recent successful lookups for a few seconds, keyed by the key's hash.

    Every request would otherwise cost a database round trip before any work is done; the
    price is that a revoked key keeps working for at most ``ttl`` seconds in each process.
    Failed lookups are never cached, so a new key works at once.
    """

    def __init__(self, ttl: float = 10.0, size: int = 1024) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, uuid.UUID]] = {}

    def lookup(self, token: str) -> uuid.UUID | None:
        digest = services.hash_api_key(token)
        hit = self._entries.get(digest)
        now = time.monotonic()
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        key = services.authenticate(deps().sessions, token)
        if key is None:
            self._entries.pop(digest, None)
            return None
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[digest] = (now, key.id)
        return key.id


_cache = KeyCache()


def require_api_key() -> None:
    """``before_request`` hook for every protected blueprint."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <api key>'")
    key_id = _cache.lookup(token.strip())
    if key_id is None:
        raise Unauthorized("unknown or revoked API key")
    g.api_key_id = key_id
