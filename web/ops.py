"""``/ops``: a live operations page for people (lines, waiting calls, active calls).

Browsers cannot send a bearer header on navigation, so the page signs in once with an API key
(scope ``calls:read``) and keeps a signed session cookie. The page is server-rendered and
refreshes its numbers from ``/ops/data.json`` every two seconds.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from itsdangerous import URLSafeTimedSerializer
from redis.exceptions import RedisError

from dispatcher.domain.campaign_activity import with_reason
from dispatcher.usecases.campaigns import CampaignView
from dispatcher.usecases.ops_board import ops_board
from web import charts
from web.auth import lookup_key
from web.deps import deps

bp = Blueprint("ops", __name__, template_folder="templates")
ACTIVE_LIMIT = 200
CAMPAIGN_LIMIT = 50


class SharedKeySessions(SecureCookieSessionInterface):
    """Signed cookies whose key every web process shares: ``DISPATCHER_SECRET_KEY``, else one
    kept in Redis. Loaded on first use, so the API starts (and takes calls) without Redis.

    Flask builds a new signing serializer for every request, API calls included (6 % of a
    submit's CPU); this keeps one per key."""

    def __init__(self) -> None:
        self._serializer: tuple[object, URLSafeTimedSerializer | None] = (None, None)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            d = app.extensions["dispatcher"]
            try:
                d.redis.set("dispatcher:web-secret-key", secrets.token_hex(32), nx=True)
                app.secret_key = d.redis.get("dispatcher:web-secret-key").decode()
            except RedisError:
                return None  # no sessions until Redis is back: the page asks to sign in
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._serializer[0] != keys:
            self._serializer = (keys, super().get_signing_serializer(app))
        return self._serializer[1]


def configure_sessions(app: Flask) -> None:
    app.secret_key = app.extensions["dispatcher"].settings.secret_key or None
    app.session_interface = SharedKeySessions()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")


def _signed_in() -> bool:
    return bool(session.get("key_id"))


@bp.get("/ops")
def page() -> ResponseReturnValue:
    if not _signed_in():
        return render_template("ops_login.html", error=None)
    flower = deps().settings.flower_url
    return render_template("ops.html", data=snapshot(), flower_url=flower)


@bp.post("/ops/login")
def login() -> ResponseReturnValue:
    principal = lookup_key(request.form.get("api_key", "").strip())
    if principal is None or "calls:read" not in principal.scopes:
        return render_template("ops_login.html", error="invalid API key"), 401
    session.clear()
    session["key_id"] = str(principal.key_id)
    return redirect(url_for("ops.page"))


@bp.post("/ops/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("ops.page"))


@bp.get("/ops/data.json")
def data() -> ResponseReturnValue:
    if not _signed_in():
        return Response(status=401)
    return jsonify(snapshot())


def snapshot() -> dict[str, Any]:
    d = deps()
    board = ops_board(d.sessions, d.admissions, d.trunks, datetime.now(tz=UTC),
                      call_limit=ACTIVE_LIMIT, campaign_limit=CAMPAIGN_LIMIT)
    trunks = [{"name": r.trunk.name, "total": r.trunk.lines, "in_use": r.in_use,
               "waiting": r.usage.waiting, "ami": r.ami, "paused": r.usage.paused,
               "watched": r.usage.watched, "limit": r.usage.line_limit} for r in board.lines]
    calls = [{"id": str(r.id), "to": r.to_number, "status": r.status, "trunk": r.trunk,
              "seconds": round((board.now - (r.answered_at or r.dialed_at or r.created_at))
                               .total_seconds())} for r in board.calls]
    capacity = {r.trunk.name: r.usage.line_limit or r.trunk.lines for r in board.lines}
    return {"generated_at": board.now.isoformat(timespec="seconds"), "trunks": trunks,
            "calls": calls, "campaigns": [_campaign(v) for v in board.campaigns],
            "alerts": [{"level": a.level, "text": a.text, "subject": a.subject}
                       for a in board.alerts],
            "charts": {"lines": charts.lines_chart(board.minutes, board.lines_per_minute,
                                                   capacity),
                       "outcomes": charts.outcomes_chart(board.minutes,
                                                         board.outcomes_per_minute)},
            "quality": [{"kind": q.kind, "name": q.name, "attempts": q.attempts,
                         "answered": q.answered, "asr": q.asr, "acd": q.acd}
                        for q in board.quality]}


def _campaign(v: CampaignView) -> dict[str, Any]:
    return {"id": str(v.row.id), "name": v.row.name, "status": v.row.status,
            "shown_status": with_reason(v.row.status, v.activity.reason),
            "activity_state": v.activity.state,
            "trunk": v.row.trunk, "progress": round(100 * v.progress, 1), "total": v.total,
            "dialing": v.contacts["dialing"], "pending": v.contacts["pending"],
            "answered": v.outcomes.get("answered", 0), "rate": v.rate_per_minute,
            "eta": _duration(v.eta_seconds)}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"
