"""A small, single-threaded, buffered AMI client for the event consumer.

Not pyst2 (its defects are named as in ``docs/ami-notes.md``): its reader dies on
``ChanVariable`` headers (D4), swallows everything after a value containing ``status will
follow`` (D6, remotely triggerable through a caller name), loses events when a callback raises
(D5) and reads one byte per ``recv`` (D12), which lets Asterisk drop a slow consumer
(``writetimeout``). Here: ``recv(65536)`` into :class:`FrameDecoder`, replies matched
by ActionID, a bounded event buffer, and every wait bounded.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Sequence

from dispatcher.adapters.ami.errors import (
    AMIActionFailed,
    AMIAuthError,
    AMIOutcomeUnknown,
    AMIUnavailable,
)
from dispatcher.adapters.ami.inbox import Inbox
from dispatcher.adapters.ami.keepalive import enable_keepalive
from dispatcher.adapters.ami.originate import validate_header_names
from dispatcher.adapters.ami.protocol import AMIMessage, FrameDecoder, serialize_action
from dispatcher.config import AMIEndpoint

__all__ = ["AMIEventClient"]

log = logging.getLogger(__name__)

RECV_BYTES = 65536
FULLY_BOOTED_WAIT = 0.5  # FullyBooted follows the login reply at once on a real Asterisk


def _is_list_complete(event: AMIMessage) -> bool:
    return (event.get("EventList") or "").lower() == "complete" or event.name.endswith("Complete")


class AMIEventClient:
    """Reads AMI events and runs the occasional (idempotent) action on the same connection.

    Events that arrive while :meth:`request`/:meth:`request_list` wait are kept, in order, for
    :meth:`next_event`. If more than ``max_buffered_events`` pile up the connection is dropped
    with :class:`AMIUnavailable`, as Asterisk itself would drop a slow reader: the consumer must
    reconnect and resynchronise rather than silently lose events.

    Not thread-safe: one consumer loop owns it.
    """

    def __init__(
        self, endpoint: AMIEndpoint, *, events: str = "on", max_buffered_events: int = 100_000
    ) -> None:
        self.endpoint = endpoint
        self.events = events
        self.banner: str | None = None
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder()
        self._inbox = Inbox(max_buffered_events)
        self._lost_reason: str | None = "not connected"

    # -- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> AMIMessage | None:
        """Connect, read the banner and log in; return the ``FullyBooted`` event if it came.

        Events still buffered from an earlier connection are kept for :meth:`next_event`.

        :raises AMIAuthError: ``Authentication failed`` (Asterisk then closes the connection).
        :raises AMIUnavailable: refused, timed out, no banner, or closed during login.
        """
        self.close()
        ep = self.endpoint
        try:
            sock = socket.create_connection((ep.host, ep.port), timeout=ep.connect_timeout)
        except OSError as exc:
            raise AMIUnavailable(f"AMI connect to {ep.host}:{ep.port} failed: {exc!r}") from exc
        enable_keepalive(sock)
        self._sock, self._lost_reason = sock, None
        self._decoder = FrameDecoder(expect_banner=True)
        inbox = self._inbox
        inbox.boot_event, inbox.capture_boot = None, True
        try:
            self._read_banner(time.monotonic() + ep.connect_timeout)
            self._login()
            if inbox.boot_event is None and self.events.strip().lower() != "off":
                deadline = time.monotonic() + min(FULLY_BOOTED_WAIT, ep.action_timeout)
                while inbox.boot_event is None and self._read_some(deadline):
                    pass
        except BaseException:
            self.close()
            raise
        finally:
            inbox.capture_boot = False
        return inbox.boot_event

    def close(self) -> None:
        """Drop the connection without a Logoff round trip; never blocks."""
        self._drop("closed")

    # -- events -------------------------------------------------------------------------------

    def next_event(self, timeout: float) -> AMIMessage | None:
        """Return the next event (buffered ones first), or ``None`` if none came in time.

        :raises AMIUnavailable: the connection is closed and nothing is buffered.
        """
        events = self._inbox.events
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if events:
                return events.popleft()
            if not self._read_some(deadline) or time.monotonic() >= deadline:
                return events.popleft() if events else None

    @property
    def buffered_events(self) -> int:
        return len(self._inbox.events)

    # -- actions ------------------------------------------------------------------------------

    def request(
        self, headers: Sequence[tuple[str, str]], timeout: float | None = None
    ) -> AMIMessage:
        """Send one action with a fresh UUID ActionID and return its reply (``Success`` *or*
        ``Error``: the caller inspects ``Response``). Events arriving meanwhile are buffered.

        :raises UnsafeAMIValue: a header would corrupt the stream (nothing written).
        :raises AMIUnavailable: not connected, or nothing was written.
        :raises AMIOutcomeUnknown: written, but no reply in time or the connection dropped.
        """
        action_id, data = self._prepare(headers)
        deadline = self._deadline(timeout)
        self._inbox.expect(action_id)
        try:
            self._write(data)
            return self._wait_reply(deadline, action_id)
        finally:
            self._inbox.done(action_id)

    def request_list(
        self, headers: Sequence[tuple[str, str]], timeout: float | None = None
    ) -> list[AMIMessage]:
        """Run an EventList action (``CoreShowChannels``, ``Status``...) and return its item
        events, i.e. those carrying our ActionID before the ``...Complete`` event.

        :raises AMIActionFailed: the action was answered with ``Response: Error``.
        """
        action_id, data = self._prepare(headers)
        deadline = self._deadline(timeout)
        items = self._inbox.expect_list(action_id)
        try:
            self._write(data)
            reply = self._wait_reply(deadline, action_id)
            if reply.get("Response") != "Success":
                raise AMIActionFailed(reply.get("Message") or "", headers[0][1])
            while not (items and _is_list_complete(items[-1])):
                self._wait_step(deadline, action_id)
            return items[:-1]
        finally:
            self._inbox.done(action_id)

    def ping(self) -> None:
        reply = self.request([("Action", "Ping")])
        if reply.get("Response") != "Success":
            raise AMIActionFailed(reply.get("Message") or "", "Ping")

    # -- internals ----------------------------------------------------------------------------

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.endpoint.action_timeout if timeout is None else timeout)

    @staticmethod
    def _prepare(headers: Sequence[tuple[str, str]]) -> tuple[str, bytes]:
        headers = list(headers)
        if not headers or headers[0][0].lower() != "action":
            raise ValueError("an AMI action must start with an Action header")
        if any(key.lower() == "actionid" for key, _ in headers):
            raise ValueError("ActionID is generated by the client")
        validate_header_names(headers)
        action_id = str(uuid.uuid4())
        data = serialize_action([headers[0], ("ActionID", action_id), *headers[1:]])
        return action_id, data

    def _login(self) -> None:
        ep = self.endpoint
        headers = [("Action", "Login"), ("Username", ep.username), ("Secret", ep.secret),
                   ("Events", self.events)]
        try:
            reply = self.request(headers, timeout=max(ep.connect_timeout, ep.action_timeout))
        except AMIOutcomeUnknown as exc:  # Login is idempotent: report it as unavailable
            raise AMIUnavailable(f"AMI login to {ep.host}:{ep.port} failed: {exc}") from exc
        if reply.get("Response") != "Success":
            raise AMIAuthError(f"AMI login as {ep.username!r} refused: {reply.get('Message')}")

    def _read_banner(self, deadline: float) -> None:
        while self._decoder.banner is None:
            if not self._read_some(deadline) and time.monotonic() >= deadline:
                raise AMIUnavailable("no AMI banner before the connect deadline")
        self.banner = self._decoder.banner

    def _wait_reply(self, deadline: float, action_id: str) -> AMIMessage:
        while (reply := self._inbox.reply(action_id)) is None:
            self._wait_step(deadline, action_id)
        return reply

    def _wait_step(self, deadline: float, action_id: str) -> None:
        """Read once for a pending action; on timeout or loss, give the action up."""
        try:
            got_data = self._read_some(deadline)
        except AMIUnavailable as exc:
            self._inbox.abandon(action_id)
            raise AMIOutcomeUnknown(f"connection lost waiting for {action_id}: {exc}") from exc
        if not got_data and time.monotonic() >= deadline:
            self._inbox.abandon(action_id)
            raise AMIOutcomeUnknown(f"no complete reply for {action_id} before the deadline")

    def _write(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise AMIUnavailable(f"AMI not connected ({self._lost_reason}); action not sent")
        sent = 0
        deadline = self._deadline(None)
        try:
            while sent < len(data):
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                sent += sock.send(data[sent:])
        except OSError as exc:
            self._drop(f"send failed: {exc!r}")
            if sent:
                raise AMIOutcomeUnknown(f"action partly written: {exc!r}") from exc
            raise AMIUnavailable(f"action not sent: {exc!r}") from exc

    def _read_some(self, deadline: float) -> bool:
        """One ``recv`` bounded by ``deadline``; dispatch what it completes. ``False`` on timeout.

        :raises AMIUnavailable: the connection closed, failed, or overflowed the event buffer.
        """
        sock = self._sock
        if sock is None:
            raise AMIUnavailable(f"AMI not connected ({self._lost_reason})")
        remaining = deadline - time.monotonic()
        sock.settimeout(remaining if remaining > 0 else 0.0)
        try:
            data = sock.recv(RECV_BYTES)
        except (TimeoutError, BlockingIOError):
            return False
        except OSError as exc:
            self._drop(f"recv failed: {exc!r}")
            raise AMIUnavailable(f"AMI connection failed: {exc!r}") from exc
        if not data:
            self._drop("closed by peer")
            raise AMIUnavailable("AMI connection closed by peer")
        try:
            for message in self._decoder.feed(data):
                self._inbox.put(message)
        except ValueError as exc:
            self._drop(f"protocol error: {exc}")
            raise AMIUnavailable(f"AMI protocol error: {exc}") from exc
        if self._inbox.overflow:
            self._inbox.overflow = False
            self._drop("event buffer overflow")
            raise AMIUnavailable(f"more than {self._inbox.max_events} unread AMI events; "
                                 "dropped")
        return True

    def _drop(self, reason: str) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        self._lost_reason = reason
        if reason != "closed":
            log.warning("AMI event connection to %s:%s lost: %s",
                        self.endpoint.host, self.endpoint.port, reason)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
