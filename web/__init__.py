"""The HTTP API: an app factory, one blueprint per resource, JSON errors everywhere.

The web process records calls and enqueues them by task name; it never imports worker code.
"""

from __future__ import annotations

from flask import Flask

from dispatcher.adapters.celery_sender import Publisher
from dispatcher.config import Settings, load_settings
from dispatcher.logs import configure_logging
from web.deps import Deps, build_deps


def create_app(settings: Settings | None = None, *, publisher: Publisher | None = None) -> Flask:
    settings = settings or load_settings()
    settings.require("database_url", "redis_url")
    configure_logging(settings.log_level, settings.log_format, settings.log_mask_numbers)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # "//" in a path is a 404 with the JSON error body, not a 308 to a merged URL (HTML body).
    app.url_map.merge_slashes = False
    deps: Deps = build_deps(settings, publisher)
    deps.warm_up()
    app.extensions["dispatcher"] = deps

    from web import calls, campaigns, dnc, docs, errors, health, metrics, openapi, ops, trunks

    errors.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(calls.bp, url_prefix="/v1")
    app.register_blueprint(trunks.bp, url_prefix="/v1")
    app.register_blueprint(campaigns.bp, url_prefix="/v1")
    app.register_blueprint(dnc.bp, url_prefix="/v1")
    app.register_blueprint(metrics.bp)
    app.register_blueprint(ops.bp)
    ops.configure_sessions(app)
    return app
