"""Sending status callbacks: pick due deliveries, POST each signed, retry with backoff, and
give up for good on a refused target or after the last retry."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from dispatcher.adapters.db.callbacks import CallbackRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.http.callback_delivery import Post, resolve_allowed
from dispatcher.domain.callbacks import CallbackRefused, next_delay, sign

logger = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
TIMEOUT = 5.0


def claim_due(sessions: Sessions, limit: int = 100) -> list[int]:
    """Take due deliveries for sending; a crashed sender's claim lapses after the lease."""
    now = datetime.now(tz=UTC)
    with sessions.begin() as session:
        return CallbackRepository(session).claim_due(now, now + LEASE, limit)


def deliver(sessions: Sessions, delivery_id: int, post: Post, *,
            allow_private: bool = False) -> str:
    """Try one delivery once; returns its state afterwards."""
    with sessions() as session:
        repo = CallbackRepository(session)
        row = repo.get(delivery_id)
        if row is None or row.state != "pending":
            return row.state if row else "missing"
        secret = (repo.call_secret(row.call_id) if row.call_id is not None
                  else repo.campaign_secret(row.campaign_id))
        url, payload, event_id = row.url, row.payload, row.event_id
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "call-dispatcher",
               "X-Event-Id": str(event_id), "X-Signature": sign(secret or "", body)}
    code: int | None = None
    error: str | None = None
    try:
        resolve_allowed(url, allow_private=allow_private)
        code = post(url, body, headers, TIMEOUT).status_code
    except CallbackRefused as exc:
        error = f"refused: {exc}"
    except Exception as exc:  # any transport failure is a failed attempt, retried later
        error = f"{type(exc).__name__}: {exc}"[:500]
    return _record(sessions, delivery_id, code, error)


def _record(sessions: Sessions, delivery_id: int, code: int | None, error: str | None) -> str:
    now = datetime.now(tz=UTC)
    with sessions.begin() as session:
        row = CallbackRepository(session).get(delivery_id, for_update=True)
        if row is None:
            return "missing"
        row.attempts += 1
        row.last_status_code = code
        row.last_error = error
        if code is not None and 200 <= code < 300:
            row.state, row.delivered_at = "delivered", now
        else:
            delay = None if error and error.startswith("refused") else next_delay(row.attempts)
            if delay is None:
                row.state = "failed"
                logger.warning("callback %s for %s failed for good: %s", row.event_id,
                               f"call {row.call_id}" if row.call_id else
                               f"campaign {row.campaign_id}", error or code)
            else:
                row.next_attempt_at = now + delay
        return row.state
