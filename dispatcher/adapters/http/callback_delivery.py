"""Sending status callbacks: pick due deliveries, POST them signed, retry with backoff."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.tables import ApiKeyRow, CallbackDeliveryRow, CallRow, CampaignRow
from dispatcher.domain.callbacks import CallbackRefused, next_delay, refuse_private, sign

logger = logging.getLogger(__name__)
Sessions = sessionmaker[Session]
LEASE = timedelta(seconds=60)
TIMEOUT = 5.0


def resolve_allowed(url: str, *, allow_private: bool = False) -> None:
    """At delivery time: every address the host resolves to must be public (the name may
    have been re-pointed since the URL was checked)."""
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise CallbackRefused(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        refuse_private(ipaddress.ip_address(info[4][0]))


class Response(Protocol):
    status_code: int


Post = Callable[[str, bytes, dict[str, str], float], Response]


def claim_due(sessions: Sessions, limit: int = 100) -> list[int]:
    """Take due deliveries for sending; a crashed sender's claim lapses after the lease."""
    now = datetime.now(tz=UTC)
    with sessions.begin() as session:
        ids = list(session.scalars(
            select(CallbackDeliveryRow.id)
            .where(CallbackDeliveryRow.state == "pending",
                   CallbackDeliveryRow.next_attempt_at <= now)
            .order_by(CallbackDeliveryRow.id).limit(limit).with_for_update(skip_locked=True)))
        if ids:
            session.execute(update(CallbackDeliveryRow)
                            .where(CallbackDeliveryRow.id.in_(ids))
                            .values(next_attempt_at=now + LEASE))
    return ids


def signing_secret(session: Session, call_id: uuid.UUID) -> str | None:
    """The secret of the key that placed the call; a campaign's calls are signed with the
    secret of the key that created the campaign."""
    owner = (select(func.coalesce(CallRow.api_key_id, CampaignRow.api_key_id))
             .outerjoin(CampaignRow, CampaignRow.id == CallRow.campaign_id)
             .where(CallRow.id == call_id).scalar_subquery())
    return session.scalar(select(ApiKeyRow.callback_secret).where(ApiKeyRow.id == owner))


def campaign_secret(session: Session, campaign_id: uuid.UUID | None) -> str | None:
    """A campaign's lifecycle callbacks are signed like its calls' callbacks."""
    return session.scalar(select(ApiKeyRow.callback_secret).join(
        CampaignRow, CampaignRow.api_key_id == ApiKeyRow.id).where(CampaignRow.id == campaign_id))


def deliver(sessions: Sessions, delivery_id: int, post: Post, *,
            allow_private: bool = False) -> str:
    """Try one delivery once; returns its state afterwards."""
    with sessions() as session:
        row = session.get(CallbackDeliveryRow, delivery_id)
        if row is None or row.state != "pending":
            return row.state if row else "missing"
        secret = (signing_secret(session, row.call_id) if row.call_id is not None
                  else campaign_secret(session, row.campaign_id))
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
        row = session.get(CallbackDeliveryRow, delivery_id, with_for_update=True)
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
