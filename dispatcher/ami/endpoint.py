"""Where and how to reach one Asterisk Manager Interface, with every deadline in one place."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AMIEndpoint:
    """Connection settings for one AMI user.

    Every network wait in the AMI layer is bounded by one of these timeouts (pyst2 has none of
    its own, ``docs/ami-notes.md#d1``). ``secret`` is kept out of ``repr`` so it never lands in
    logs or task tracebacks.
    """

    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    connect_timeout: float = 3.0  # TCP connect + banner + login reply
    action_timeout: float = 5.0  # one action's reply
    ping_interval: float = 20.0  # idle time after which a session is re-checked before use

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ValueError(f"invalid AMI port {self.port!r}")
        for name in ("connect_timeout", "action_timeout", "ping_interval"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"AMIEndpoint.{name} must be a positive number, got {value!r}")


def enable_keepalive(sock: socket.socket) -> None:
    """Backstop dead-peer detection for half-open AMI connections
    (``docs/ami-notes.md#wrapper-rules``, rule 7)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    except OSError:  # pragma: no cover - platform dependent
        logging.getLogger(__name__).debug("could not enable TCP keepalive", exc_info=True)
