"""Errors a client can cause, each with the HTTP status and code the API reports it with.

They live in the core because the rules that raise them (numbers, idempotency, cancel) are
domain rules; ``web/`` only renders them.
"""

from __future__ import annotations


class DispatcherError(Exception):
    status = 500
    code = "internal-error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DispatcherError):
    status = 422
    code = "validation-failed"


class BadRequest(DispatcherError):
    status = 400
    code = "bad-request"


class Unauthorized(DispatcherError):
    status = 401
    code = "unauthorized"


class Forbidden(DispatcherError):
    status = 403
    code = "forbidden"


class NotFound(DispatcherError):
    status = 404
    code = "not-found"


class Conflict(DispatcherError):
    status = 409
    code = "conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency-key-reused"


class ServiceUnavailable(DispatcherError):
    status = 503
    code = "unavailable"


class TooManyRequests(DispatcherError):
    status = 429
    code = "rate-limited"
