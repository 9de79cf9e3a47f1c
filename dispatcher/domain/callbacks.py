"""Status callbacks (webhooks): which events a call reports, how they are signed, where they
may go, and when a failed delivery is tried again.

Deliveries are written in the same transaction as the state change they report (an outbox),
numbered per call, and sent by Celery; a receiver that orders by ``sequence`` is never confused
by a late or repeated delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from datetime import timedelta
from urllib.parse import urlsplit

from dispatcher.domain.status import CallStatus

EVENTS = ("initiated", "ringing", "answered", "completed")
DEFAULT_EVENTS = ("completed",)
MAX_ATTEMPTS = 8
_BACKOFF = (1, 5, 15, 60, 300, 900, 1800)


class CallbackRefused(ValueError):
    """A callback URL we will not deliver to."""


def event_for(old: CallStatus, new: CallStatus) -> str | None:
    """The callback event a status change is, if any."""
    if new is old:
        return None
    if new.is_final:
        return "completed"
    return {CallStatus.RINGING: "ringing", CallStatus.IN_PROGRESS: "answered"}.get(new)


def parse_events(value: object) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_EVENTS
    if not isinstance(value, list) or not value or not all(v in EVENTS for v in value):
        raise ValueError(f"must be a non-empty list of {', '.join(EVENTS)}")
    return tuple(dict.fromkeys(value))


def check_url(url: object, *, allow_private: bool = False) -> str:
    """Refuse anything but an http(s) URL to a public host (checked again at delivery, after
    DNS, so a name that later points inside the network is refused then)."""
    if not isinstance(url, str) or len(url) > 2000 or any(c in url for c in "\r\n\x00 "):
        raise CallbackRefused("must be an http or https URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("must be an http or https URL")
    if parts.username or parts.password:
        raise CallbackRefused("must not carry credentials")
    if not allow_private:
        try:
            refuse_private(ipaddress.ip_address(parts.hostname))
        except ValueError as exc:
            if isinstance(exc, CallbackRefused):
                raise
            if parts.hostname.lower() in ("localhost", "localhost.localdomain"):
                raise CallbackRefused("must not point at this machine") from None
    return url


def refuse_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if not address.is_global or address.is_multicast:
        raise CallbackRefused("must not point at a loopback, private or reserved address")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """``X-Signature`` value: ``t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (also used by our tests): constant-time, with a replay window."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    expected = sign(secret, body, t).split(",v1=")[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def next_delay(attempts: int) -> timedelta | None:
    """Wait before the next try after ``attempts`` failed ones; None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return timedelta(seconds=_BACKOFF[min(attempts - 1, len(_BACKOFF) - 1)])
