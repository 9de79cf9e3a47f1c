"""TCP keepalive for AMI sockets: the backstop that detects a half-open connection."""

from __future__ import annotations

import logging
import socket


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
