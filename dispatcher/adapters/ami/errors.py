"""Exceptions of the AMI layer, split by what the caller may safely do next.

The split matters more than the names: an Originate that *may* have reached Asterisk must never
be sent again (a person would be dialled twice), while one that certainly did not can be retried.
"""

from __future__ import annotations

from dispatcher.adapters.ami.protocol import UnsafeAMIValue

__all__ = [
    "AMIActionFailed",
    "AMIAuthError",
    "AMIError",
    "AMIOutcomeUnknown",
    "AMIUnavailable",
    "UnsafeAMIValue",
]


class AMIError(Exception):
    """Base class for failures talking to Asterisk (not for invalid input: that is ValueError)."""


class AMIUnavailable(AMIError):
    """No connection, failed connect/login, or connection lost *before* the action was written.

    Nothing reached Asterisk, so the action is safe to retry (on a new connection).
    """


class AMIAuthError(AMIUnavailable):
    """Asterisk answered ``Authentication failed`` (wrong user/secret or ACL)."""


class AMIOutcomeUnknown(AMIError):
    """The action was written but no matching reply arrived before the deadline, or the
    connection broke after writing. Asterisk may or may not have acted on it: never re-send a
    non-idempotent action (Originate) because of this error."""


class AMIActionFailed(AMIError):
    """Asterisk replied ``Response: Error``; :attr:`message` is its ``Message`` header."""

    def __init__(self, message: str, action: str = "") -> None:
        self.message = message
        self.action = action
        super().__init__(f"{action} failed: {message}" if action else message)
