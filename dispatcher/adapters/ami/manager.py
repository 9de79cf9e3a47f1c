"""The worker side of AMI: one pyst2 session per process, wrapped so that it cannot hang, cannot
hand one action's reply to another, and cannot be used to inject AMI commands.

pyst2 0.5.1 has no timeouts (D1), matches replies FIFO instead of by ActionID (D2), cannot
reconnect (D10), may hang in ``close()``/``__del__`` (D11) and writes values verbatim (D7); the
"Dn" names are the entries of ``docs/ami-notes.md`` (anchors ``#d1``...), whose rules for using
pyst2 safely (``#wrapper-rules``) are implemented here and in
:mod:`dispatcher.adapters.ami.pyst2_manager` (the only module that imports pyst2):

* every wait has a deadline: the response queue is swapped for one whose ``get`` times out, and
  the socket is created with ``connect_timeout`` (which pyst2 then also applies to reads);
* every reply's ActionID is checked against the UUID we sent;
* any timeout, mismatch or error while an action is outstanding *poisons* the session: its socket
  is shut down and the next ``process_session`` builds a fresh ``Manager``. Nothing is ever
  re-sent on the fresh connection;
* every action is validated by :func:`protocol.serialize_action` before pyst2 sees it; a refused
  value raises ``ValueError`` (``UnsafeAMIValue``/``InvalidOriginate``) and the socket is untouched;
* login is explicit, with ``Events: off``, so event-parsing defects (D4, D5, D6, D12) are off the
  worker's path.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from dispatcher.adapters.ami.errors import (
    AMIActionFailed,
    AMIAuthError,
    AMIOutcomeUnknown,
    AMIUnavailable,
)
from dispatcher.adapters.ami.originate import (
    InvalidOriginate,
    OriginateRequest,
    validate_channel_ref,
    validate_header_names,
)
from dispatcher.adapters.ami.protocol import UnsafeAMIValue, serialize_action
from dispatcher.adapters.ami.pyst2_manager import (
    DeadlineQueue,
    ManagerException,
    ReplyTimeout,
    SafeManager,
    disarm,
    raw_socket,
    shutdown,
    to_cdict,
)
from dispatcher.config import AMIEndpoint

__all__ = ["WorkerAMISession"]

log = logging.getLogger(__name__)


class WorkerAMISession:
    """One pyst2 Manager per process, logged in with ``Events: off``.

    The constructor connects and logs in (bounded by ``connect_timeout``/``action_timeout``) and
    raises :class:`AMIUnavailable`/:class:`AMIAuthError`. Once poisoned, a session stays dead;
    :func:`dispatcher.adapters.ami.session_cache.process_session` replaces it. Methods are
    serialised by a lock (pyst2 is not thread-safe, D3).
    """

    def __init__(self, endpoint: AMIEndpoint) -> None:
        self.endpoint = endpoint
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._dead = False
        self._manager = SafeManager(endpoint.connect_timeout)
        self._queue: DeadlineQueue = self._manager._response_queue
        self.last_used = time.monotonic()
        try:
            self._connect()
            self._login()
        except BaseException:
            self._poison("connect/login failed")
            raise

    # -- public API ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return not self._dead and bool(self._manager.connected())

    def idle_for(self) -> float:
        """Seconds since the last successful exchange."""
        return time.monotonic() - self.last_used

    def originate(self, request: OriginateRequest) -> None:
        """Send an ``Async: true`` Originate; return once Asterisk says it is queued.

        :raises InvalidOriginate: a field is unsafe (nothing written, session intact).
        :raises AMIActionFailed: ``Response: Error`` (e.g. ``Extension does not exist.``).
        :raises AMIOutcomeUnknown: written, but no matching reply: do NOT originate again.
        :raises AMIUnavailable: not written; safe to retry on a new session.
        """
        headers = request.headers()
        try:
            reply = self._action(headers)  # validates again before any I/O
        except InvalidOriginate:
            raise
        except UnsafeAMIValue as exc:
            raise InvalidOriginate(str(exc)) from exc
        status = reply.get_header("Response")
        if status == "Success":
            return
        raise AMIActionFailed(reply.get_header("Message", "") or "", "Originate")

    def hangup(self, channel: str, cause: int = 16) -> bool:
        """Hang up one channel (name or Uniqueid). ``False`` if Asterisk has no such channel.

        A value starting with ``/`` is refused: Asterisk would treat it as a regex over every
        live channel.
        """
        validate_channel_ref(channel)
        if isinstance(cause, bool) or not isinstance(cause, int) or not 0 <= cause <= 127:
            raise InvalidOriginate(f"invalid hangup cause {cause!r}")
        reply = self._action(
            [("Action", "Hangup"), ("ActionID", _new_id()), ("Channel", channel),
             ("Cause", str(cause))]
        )
        if reply.get_header("Response") == "Success":
            return True
        message = reply.get_header("Message", "") or ""
        if "no such channel" in message.lower():
            return False
        raise AMIActionFailed(message, "Hangup")

    def ping(self) -> None:
        """Round-trip a Ping within ``action_timeout`` (liveness check)."""
        reply = self._action([("Action", "Ping"), ("ActionID", _new_id())])
        if reply.get_header("Response") != "Success":
            raise AMIActionFailed(reply.get_header("Message", "") or "", "Ping")

    def close(self) -> None:
        """Shut the socket down without talking to Asterisk; never blocks (pyst2's own
        ``close()`` sends Logoff and can wait forever, D11)."""
        self._poison("closed", warn=False)

    # -- internals ----------------------------------------------------------------------------

    def _connect(self) -> None:
        ep = self.endpoint
        manager = self._manager
        self._queue.timeout = ep.connect_timeout  # bounds the wait for the banner
        try:
            manager.connect(ep.host, ep.port)
        except (ManagerException, ReplyTimeout, OSError) as exc:
            raise AMIUnavailable(f"AMI connect to {ep.host}:{ep.port} failed: {exc!r}") from exc
        sock = raw_socket(manager)
        if sock is None or not manager.title:
            raise AMIUnavailable(f"AMI at {ep.host}:{ep.port} sent no banner")
        # The connect timeout stays on the socket as a read timeout (pyst2 treats it as a
        # disconnect). Stretch it so an idle session survives until process_session pings it,
        # yet a silent dead peer still ends the reader thread eventually.
        sock.settimeout(max(2 * ep.ping_interval, ep.connect_timeout + ep.action_timeout))

    def _login(self) -> None:
        ep = self.endpoint
        headers = [
            ("Action", "Login"),
            ("ActionID", _new_id()),
            ("Username", ep.username),
            ("Secret", ep.secret),
            ("Events", "off"),
        ]
        try:
            reply = self._action(headers, timeout=max(ep.connect_timeout, ep.action_timeout))
        except AMIOutcomeUnknown as exc:  # Login is idempotent: "unknown" means "unavailable"
            raise AMIUnavailable(f"AMI login to {ep.host}:{ep.port} got no reply: {exc}") from exc
        status = reply.get_header("Response")
        if status == "Success":
            return
        message = reply.get_header("Message", "") or ""
        # Asterisk closes the connection after a failed login; make sure we do too.
        self._poison("login refused", warn=False)
        raise AMIAuthError(f"AMI login as {ep.username!r} refused: {message}")

    def _action(self, headers: Sequence[tuple[str, str]], timeout: float | None = None) -> Any:
        """Validate, send, and wait for the reply carrying our ActionID.

        Returns the pyst2 message for a ``Success`` or ``Error`` reply; anything else poisons.
        """
        validate_header_names(headers)  # both raise UnsafeAMIValue before any I/O,
        serialize_action(headers)  # leaving the session untouched
        cdict = to_cdict(headers)
        action_id = cdict.get("ActionID")
        if not isinstance(action_id, str):
            raise UnsafeAMIValue("every action needs exactly one ActionID")
        deadline = self.endpoint.action_timeout if timeout is None else timeout
        if not self._lock.acquire(timeout=deadline):
            raise AMIUnavailable("AMI session busy in another thread")
        try:
            return self._exchange(cdict, action_id, deadline)
        finally:
            self._lock.release()

    def _exchange(self, cdict: dict[str, Any], action_id: str, deadline: float) -> Any:
        action = cdict.get("Action", "?")
        if not self.connected:
            raise AMIUnavailable(f"AMI session not connected; {action} not sent")
        if not self._queue.empty():  # a reply nobody asked for: the stream is out of step (D2)
            self._poison("unsolicited reply in queue")
            raise AMIUnavailable(f"AMI session out of step; {action} not sent")
        self._queue.timeout = deadline
        self._queue.waiting = False
        self._queue.action = action
        try:
            reply = self._manager.send_action(cdict)
        except Exception as exc:
            written = self._queue.waiting
            self._poison(f"{action} {'wait' if written else 'write'} failed: {exc!r}")
            if written:
                raise AMIOutcomeUnknown(f"{action} {action_id}: {exc!r}") from exc
            raise AMIUnavailable(f"{action} {action_id} not sent: {exc!r}") from exc
        except BaseException:
            # e.g. a Celery soft time limit while waiting: the late reply would otherwise be
            # handed to the next action (D2).
            self._poison(f"{action} interrupted")
            raise
        got = reply.get_header("ActionID")
        status = reply.get_header("Response")
        if got != action_id or status not in ("Success", "Error"):
            self._poison(f"{action} got reply {status!r} for ActionID {got!r}")
            raise AMIOutcomeUnknown(
                f"{action} {action_id}: reply {status!r} carries ActionID {got!r}"
            )
        self.last_used = time.monotonic()
        return reply

    def _poison(self, reason: str, *, warn: bool = True) -> None:
        """Make this session unusable: shut the socket down (wakes pyst2's reader, which then
        wakes any waiter) and disarm pyst2 so nothing can later write or wait on it."""
        if not self._dead and warn:
            log.warning("poisoning AMI session to %s:%s: %s",
                        self.endpoint.host, self.endpoint.port, reason)
        self._dead = True
        manager = self._manager
        shutdown(raw_socket(manager))
        disarm(manager)

    def _abandon_after_fork(self) -> None:
        """In a forked child: forget the parent's session without touching the shared TCP
        connection (a shutdown would kill the parent's session, a Logoff would log it off)."""
        self._dead = True
        manager = self._manager
        disarm(manager, wake_threads=False)
        sock_io = getattr(manager, "_sock", None)
        # In a real child the parent's threads do not exist. If they do, this is the same
        # process (a faked pid): leave the descriptor to its reader thread.
        if sock_io is not None and not manager.message_thread.is_alive():
            try:
                sock_io.close()  # closes only this process's copy of the descriptor
            except (OSError, ValueError):
                pass


def _new_id() -> str:
    """Process-unique and host-unique ActionIDs (pyst2's are ``host-00000000`` everywhere, D9)."""
    return str(uuid.uuid4())
