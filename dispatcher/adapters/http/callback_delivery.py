"""Status callbacks over HTTP: the POST itself, and the check, at sending time, that the target
is still a public address."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import requests

from dispatcher.domain.callbacks import CallbackRefused, refuse_private


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


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Response:
    """One POST, never following a redirect (it could lead anywhere, a private address too)."""
    return requests.post(url, data=body, headers=headers, timeout=timeout,
                         allow_redirects=False)
