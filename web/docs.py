"""``/docs``: the API's description, readable by people, from ``/openapi.json``.

Swagger UI 5 (the first to read OpenAPI 3.1) comes from the ``flask-openapi3-swagger`` wheel,
whose static files are served from here, so the page works with no internet (no CDN), like
the operations page. Only its files are used, not its Flask plugin. The page's own script is a
file too, not inline, so a strict Content-Security-Policy in front of the API can allow it.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory, url_for
from flask.typing import ResponseReturnValue

bp = Blueprint("docs", __name__)

# What the page loads from the wheel; nothing else of it is served.
ASSETS = {"swagger-ui.css": "css", "swagger-ui-bundle.js": "js", "swagger.svg": "images"}


@cache
def _swagger_files() -> Path:
    """The wheel's static folder, found without importing it (its plugin module would import
    flask-openapi3 for nothing)."""
    spec = importlib.util.find_spec("flask_openapi3_swagger")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("flask-openapi3-swagger is not installed (make install)")
    return Path(next(iter(spec.submodule_search_locations))) / "templates" / "swagger"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Call dispatcher API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{favicon}"><link rel="stylesheet" href="{css}"></head>
<body><div id="swagger-ui" data-spec="{spec}"></div>
<script src="{bundle}"></script><script src="{init}"></script></body></html>
"""


def _asset(name: str) -> str:
    return url_for("docs.asset", name=name)


@bp.get("/docs")
def page() -> ResponseReturnValue:
    html = PAGE.format(favicon=_asset("swagger.svg"), css=_asset("swagger-ui.css"),
                       bundle=_asset("swagger-ui-bundle.js"), spec=url_for("openapi.openapi"),
                       init=url_for("static", filename="docs.js"))
    return Response(html, mimetype="text/html")


@bp.get("/docs/assets/<name>")
def asset(name: str) -> ResponseReturnValue:
    if name not in ASSETS:
        abort(404)
    return send_from_directory(_swagger_files() / ASSETS[name], name, max_age=86400)
