"""AMI layer: safe Originate building, the worker's pyst2 session, and the consumer's client.

``manager`` (pyst2) is imported lazily so that the API and the event consumer, which only need
the protocol, errors and client, never load pyst2 or its threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher.adapters.ami.client import AMIEventClient
from dispatcher.adapters.ami.errors import (
    AMIActionFailed,
    AMIAuthError,
    AMIError,
    AMIOutcomeUnknown,
    AMIUnavailable,
)
from dispatcher.adapters.ami.originate import InvalidOriginate, OriginateRequest, validate_variable
from dispatcher.adapters.ami.protocol import AMIMessage, UnsafeAMIValue
from dispatcher.config import AMIEndpoint

if TYPE_CHECKING:
    from dispatcher.adapters.ami.manager import WorkerAMISession
    from dispatcher.adapters.ami.session_cache import process_session, reset_process_session

__all__ = [
    "AMIActionFailed",
    "AMIAuthError",
    "AMIEndpoint",
    "AMIError",
    "AMIEventClient",
    "AMIMessage",
    "AMIOutcomeUnknown",
    "AMIUnavailable",
    "InvalidOriginate",
    "OriginateRequest",
    "UnsafeAMIValue",
    "WorkerAMISession",
    "process_session",
    "reset_process_session",
    "validate_variable",
]

_LAZY = {"WorkerAMISession", "process_session", "reset_process_session"}


def __getattr__(name: str) -> Any:
    if name == "WorkerAMISession":
        from dispatcher.adapters.ami import manager

        return manager.WorkerAMISession
    if name in _LAZY:
        from dispatcher.adapters.ami import session_cache

        return getattr(session_cache, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
