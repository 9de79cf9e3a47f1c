"""Liveness and readiness, unauthenticated so orchestrators can probe them."""

from __future__ import annotations

import socket

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from dispatcher.adapters.db.engine import ping
from web.deps import deps

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


def _check_database() -> None:
    ping(deps().sessions)


def _check_ami() -> None:
    """Reachable means the PBX answers with its AMI banner; no login, so no secret needed."""
    settings = deps().settings
    with socket.create_connection((settings.ami_host, settings.ami_port), timeout=2) as sock:
        sock.settimeout(2)
        banner = sock.recv(128)
    if not banner.startswith(b"Asterisk Call Manager/"):
        raise ConnectionError("unexpected AMI banner")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    checks = {"postgresql": _check_database, "redis": deps().publisher.ping, "ami": _check_ami}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which and why
            results[name] = f"error: {type(exc).__name__}: {exc}"[:200]
    ready = all(value == "ok" for value in results.values())
    return jsonify(status="ready" if ready else "not-ready", checks=results), 200 if ready else 503
