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
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from dispatcher.db.tables import CallRow
from dispatcher.status import ACTIVE_STATUSES
from web.auth import lookup_key
from web.deps import deps
from web.trunks import ami_state

bp = Blueprint("ops", __name__, template_folder="templates")
ACTIVE_LIMIT = 200


def configure_sessions(app: Flask) -> None:
    """One signing key for every web process: from settings, else shared through Redis."""
    d = app.extensions["dispatcher"]
    key = d.settings.secret_key
    if not key:
        d.redis.set("dispatcher:web-secret-key", secrets.token_hex(32), nx=True)
        key = d.redis.get("dispatcher:web-secret-key").decode()
    app.secret_key = key
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
    now = datetime.now(tz=UTC)
    trunks = []
    for trunk in d.trunks.trunks:
        usage = d.admissions.usage(trunk.name)
        trunks.append({"name": trunk.name, "total": trunk.lines,
                       "in_use": usage.in_use + usage.foreign, "waiting": usage.waiting,
                       "ami": ami_state(trunk.name)})
    with d.sessions() as db:
        rows = list(db.scalars(
            select(CallRow).where(CallRow.status.in_([s.value for s in ACTIVE_STATUSES]))
            .order_by(CallRow.created_at).limit(ACTIVE_LIMIT)))
    calls = [{"id": str(r.id), "to": r.to_number, "status": r.status, "trunk": r.trunk,
              "seconds": round((now - (r.answered_at or r.dialed_at or r.created_at))
                               .total_seconds())} for r in rows]
    return {"generated_at": now.isoformat(timespec="seconds"), "trunks": trunks,
            "calls": calls, "campaigns": []}
