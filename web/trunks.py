"""``/v1/trunks``: line use per trunk, as operators need to see it."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from dispatcher.usecases.line_report import line_report
from web.auth import require_api_key
from web.deps import deps

bp = Blueprint("trunks", __name__)
bp.before_request(require_api_key)


@bp.get("/trunks")
def list_trunks() -> ResponseReturnValue:
    d = deps()
    report = line_report(d.sessions, d.admissions, d.trunks, datetime.now(tz=UTC))
    return jsonify(data=[{
        "name": r.trunk.name,
        "queue": r.trunk.queue,
        "lines_total": r.trunk.lines,
        "lines_in_use": r.in_use,
        "lines_in_use_by_others": r.usage.foreign,
        "calls_waiting": r.usage.waiting,
        "oldest_waiting_seconds": r.oldest_waiting_seconds,
        "calls_per_second_last_minute": round(r.usage.admitted_last_minute / 60, 2),
        "cps_limit": r.trunk.cps or None,
        "paused": r.usage.paused,
        "lines_limit": r.usage.line_limit,
        "watched": r.usage.watched,
        "prefixes": list(r.trunk.prefixes),
        "ami": r.ami,
    } for r in report])
