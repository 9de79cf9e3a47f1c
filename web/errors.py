"""Every error is JSON: ``{"error": {"code", "message", "field"?}}`` with the right status."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from dispatcher.domain.errors import DispatcherError

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def register(app: Flask) -> None:
    @app.errorhandler(DispatcherError)
    def _dispatcher_error(exc: DispatcherError) -> ResponseReturnValue:
        headers = {"Retry-After": "1" if exc.status == 429 else "5"} if exc.status in (
            429, 503) else {}
        return jsonify(error_body(exc.code, exc.message, exc.field)), exc.status, headers

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        code = (exc.name or "error").lower().replace(" ", "-")
        # Keep what the exception adds (``Allow`` on 405), minus its HTML content type.
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        message = _message(exc, dict(headers).get("Allow"))
        return jsonify(error_body(code, message)), exc.code or 500, headers

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> ResponseReturnValue:
        logger.error("database unavailable: %s", exc.orig)
        body = error_body("database-unavailable", "the database is unavailable; retry later")
        return jsonify(body), 503, {"Retry-After": "5"}

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        logger.exception("unhandled error")
        return jsonify(error_body("internal-error", "internal server error")), 500


def _message(exc: HTTPException, allow: str | None) -> str:
    """Werkzeug's texts are written for browsers ("check your spelling"); say what a client
    of this API can act on."""
    if exc.code == 404:
        return f"no such resource: {request.method} {request.path}"
    if exc.code == 405:
        return f"{request.method} is not allowed on {request.path}; allowed: {allow or 'none'}"
    if exc.code == 413:
        limit = request.max_content_length
        if limit:
            return f"the request body is larger than the limit of {limit:,} bytes"
    return exc.description or exc.name
