"""The worker process's one AMI session: made on first use (never in the Celery parent before
the fork), checked with a Ping when idle, replaced when poisoned, and forgotten, untouched,
by a forked child (its socket is the parent's)."""

from __future__ import annotations

import logging
import os
import threading

from dispatcher.adapters.ami.errors import AMIError
from dispatcher.adapters.ami.manager import WorkerAMISession
from dispatcher.config import AMIEndpoint

__all__ = ["process_session", "reset_process_session"]

log = logging.getLogger(__name__)

_cache_lock = threading.Lock()
_session: WorkerAMISession | None = None


def process_session(endpoint: AMIEndpoint) -> WorkerAMISession:
    """This process's session, created lazily (never in the Celery parent before fork).

    Rebuilt when the pid changed (fork), the session was poisoned or disconnected, or the
    endpoint changed. A session idle for more than ``ping_interval`` is pinged (bounded) first,
    and replaced if the ping fails. Only a Ping is ever sent on the old connection; nothing is
    re-sent on a new one.
    """
    global _session
    with _cache_lock:
        session = _session
        if session is not None and session.pid != os.getpid():
            session._abandon_after_fork()
            session = _session = None
        if session is not None and (session.endpoint != endpoint or not session.connected):
            session.close()
            session = _session = None
        if session is not None and session.idle_for() > endpoint.ping_interval:
            try:
                session.ping()
            except AMIError as exc:
                log.info("idle AMI session failed its ping (%r); reconnecting", exc)
                session.close()
                session = _session = None
        if session is None:
            session = _session = WorkerAMISession(endpoint)
        return session


def reset_process_session() -> None:
    """Drop the cached session (for Celery's ``worker_process_init``). No AMI traffic: an
    inherited session is only forgotten; one of our own is shut down without waiting."""
    global _session
    with _cache_lock:
        session, _session = _session, None
    if session is None:
        return
    if session.pid != os.getpid():
        session._abandon_after_fork()
    else:
        session.close()


def _after_fork_in_child() -> None:
    """The cache lock may have been held by another thread at fork time; replace it."""
    global _cache_lock, _session
    _cache_lock = threading.Lock()
    session, _session = _session, None
    if session is not None:
        session._abandon_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
