"""Bearer API keys: random, shown once, stored as SHA-256 hashes."""

from __future__ import annotations

from flask import g, request

from dispatcher import services
from dispatcher.errors import DispatcherError
from web.deps import deps


class Unauthorized(DispatcherError):
    status = 401
    code = "unauthorized"


def require_api_key() -> None:
    """``before_request`` hook for every protected blueprint."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <api key>'")
    key = services.authenticate(deps().sessions, token.strip())
    if key is None:
        raise Unauthorized("unknown or revoked API key")
    g.api_key_id = key.id
