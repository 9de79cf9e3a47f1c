"""``/v1/trunks``: line use per trunk, as operators need to see it."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from dispatcher.adapters.db.tables import CallRow
from dispatcher.domain.status import CallStatus
from web.auth import require_api_key
from web.deps import deps

bp = Blueprint("trunks", __name__)
bp.before_request(require_api_key)


def ami_state(trunk: str) -> str:
    """What the event consumer last reported for this trunk's AMI session."""
    raw = deps().redis.get(f"dispatcher:{{{trunk}}}:ami")
    return raw.decode() if raw else "unknown"


@bp.get("/trunks")
def list_trunks() -> ResponseReturnValue:
    d = deps()
    now = datetime.now(tz=UTC)
    with d.sessions() as session:
        oldest = dict(session.execute(
            select(CallRow.trunk, func.min(CallRow.created_at))
            .where(CallRow.status == CallStatus.QUEUED.value).group_by(CallRow.trunk)).all())
    data = []
    for trunk in d.trunks.trunks:
        usage = d.admissions.usage(trunk.name)
        since = oldest.get(trunk.name)
        data.append({
            "name": trunk.name,
            "queue": trunk.queue,
            "lines_total": trunk.lines,
            "lines_in_use": usage.in_use + usage.foreign,
            "lines_in_use_by_others": usage.foreign,
            "calls_waiting": usage.waiting,
            "oldest_waiting_seconds": round((now - since).total_seconds(), 1) if since else None,
            "calls_per_second_last_minute": round(usage.admitted_last_minute / 60, 2),
            "cps_limit": trunk.cps or None,
            "paused": usage.paused,
            "lines_limit": usage.line_limit,
            "watched": usage.watched,
            "prefixes": list(trunk.prefixes),
            "ami": ami_state(trunk.name),
        })
    return jsonify(data=data)
