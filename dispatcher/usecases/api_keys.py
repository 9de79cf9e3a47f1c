"""API keys: created, checked and rotated. Only a hash of a key is stored; the callback
secret that signs a key's callbacks is kept so it can sign them."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from dispatcher.adapters.db.api_keys import ApiKeyRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import ApiKeyRow

KEY_PREFIX = "dsp_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


SCOPES = ("calls:read", "calls:write")


def create_api_key(sessions: Sessions, name: str, *, scopes: tuple[str, ...] = SCOPES,
                   expires_in: timedelta | None = None, rate_limit: int | None = None,
                   max_active_calls: int | None = None) -> tuple[ApiKeyRow, str]:
    """Make a key; the plaintext is returned once and only its hash is stored."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(tz=UTC) + expires_in if expires_in else None
    row = ApiKeyRow(id=uuid.uuid4(), name=name, prefix=key[:12], key_hash=hash_api_key(key),
                    scopes=" ".join(scopes), expires_at=expires_at,
                    callback_secret=secrets.token_hex(32), rate_limit=rate_limit,
                    max_active_calls=max_active_calls)
    with sessions.begin() as session:
        ApiKeyRepository(session).add(row)
    return row, key


def authenticate(sessions: Sessions, key: str) -> ApiKeyRow | None:
    with sessions() as session:
        return ApiKeyRepository(session).by_hash(hash_api_key(key))


def rotate_callback_secret(sessions: Sessions, id_or_prefix: str) -> str | None:
    """A new signing secret for a key's callbacks; deliveries from now on use it."""
    secret = secrets.token_hex(32)
    with sessions.begin() as session:
        if not ApiKeyRepository(session).set_callback_secret(id_or_prefix, secret):
            return None
    return secret


def replace_named(sessions: Sessions, name: str) -> tuple[ApiKeyRow, str]:
    """A new key called ``name``, revoking the others of that name: for keys a tool makes for
    itself (the development stack's), so they do not pile up."""
    row, key = create_api_key(sessions, name)
    with sessions.begin() as session:
        ApiKeyRepository(session).revoke_named(name, keep=row.id)
    return row, key
