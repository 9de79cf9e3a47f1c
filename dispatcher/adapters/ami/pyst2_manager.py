"""pyst2's ``Manager``, made safe to hold: the only module that imports pyst2.

pyst2 0.5.1 has no timeouts (D1), cannot parse ``ChanVariable`` under Python 3 (D4), may hang
in ``close()``/``__del__`` (D11) and calls deprecated threading APIs from its threads (D16); the
"Dn" names are the entries of ``docs/ami-notes.md``. This module patches those defects in place
(a response queue whose waits have a deadline, a connect with a timeout, a reader that ends the
session on a message it cannot parse, a harmless ``__del__``). What is sent, and when a session
must be given up, is :mod:`dispatcher.adapters.ami.manager`'s business.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from asterisk import manager as pyst2

from dispatcher.adapters.ami.keepalive import enable_keepalive
from dispatcher.adapters.ami.protocol import UnsafeAMIValue
from dispatcher.devstack.faults import checkpoint

ManagerException = pyst2.ManagerException

log = logging.getLogger(__name__)

# pyst2 calls deprecated threading APIs from its own threads (D16); under -W error they would
# raise there and silently kill its reader. Ignore them for that module only.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"asterisk\.manager")


class ReplyTimeout(Exception):
    """No reply within the deadline (raised inside pyst2's ``send_action``/``connect``)."""


class DeadlineQueue(queue.Queue):  # type: ignore[type-arg]
    """Drop-in for ``Manager._response_queue`` whose blocking ``get`` has a deadline (D1).

    pyst2's ``send_action`` only starts waiting after its write succeeded, so :attr:`waiting`
    tells us afterwards whether the action may have reached Asterisk.
    """

    def __init__(self) -> None:
        super().__init__()
        self.timeout = 5.0
        self.waiting = False
        self.action = ""

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block and timeout is None:
            timeout = self.timeout
        self.waiting = True
        if self.action == "Originate":
            checkpoint("after-originate-sent")
        try:
            return super().get(block, timeout)
        except queue.Empty:
            raise ReplyTimeout(f"no AMI reply within {timeout}s") from None


class QuietEvent(threading.Event):
    """``threading.Event`` with pyst2's spelling ``isSet`` minus the DeprecationWarning."""

    def isSet(self) -> bool:
        return self.is_set()


class SafeManager(pyst2.Manager):  # type: ignore[misc]
    """pyst2 Manager with a deadline-bearing response queue and a harmless ``__del__``.

    pyst2's ``__del__`` calls ``close()``, which sends Logoff and waits (D11); in a forked child
    it would even log the *parent's* session off through the inherited socket.
    """

    def __init__(self, connect_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        with warnings.catch_warnings():  # setDaemon() is deprecated (D16)
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__()
        self._response_queue: DeadlineQueue = DeadlineQueue()
        # pyst2's threads poll Event.isSet(), deprecated since 3.10 (D16); under
        # -W error::DeprecationWarning that would kill its reader thread.
        self._connected = QuietEvent()
        self._running = QuietEvent()

    def __del__(self) -> None:
        pass

    def connect(self, host: str, port: int = 5038) -> Any:
        """pyst2's ``connect`` with a deadline (D1). The socket gets its timeout directly
        instead of through ``socket.setdefaulttimeout`` (process-global: it would also hit
        sockets other threads create meanwhile, e.g. the broker's), and a failed connect no
        longer leaks the socket. The timeout stays on the socket as pyst2's read timeout."""
        if self._connected.is_set():
            raise pyst2.ManagerException("Already connected to manager")
        try:
            sock = socket.create_connection((host, int(port)), timeout=self.connect_timeout)
        except OSError as exc:
            raise pyst2.ManagerSocketException(exc.errno, exc.strerror or repr(exc)) from exc
        enable_keepalive(sock)
        self._sock = sock.makefile(mode="rwb", buffering=0)
        sock.close()  # the file object keeps the descriptor, exactly as pyst2 does
        self._connected.set()
        self._running.set()
        self.message_thread.start()
        self.event_dispatch_thread.start()
        return self._response_queue.get()  # the banner, bounded by the deadline queue

    def message_loop(self) -> None:
        """pyst2's dispatcher loop with two changes: no deprecated ``setDaemon`` (D16; under
        ``-W error`` it raised here and the reader never started), and a message pyst2 cannot
        parse (D4: ``ChanVariable``) ends the session at once instead of killing this thread and
        leaving every later action to hang."""
        reader = threading.Thread(target=self._receive_data, daemon=True)
        reader.start()
        try:
            while self._running.is_set():
                data = self._message_queue.get()
                message = None
                if data:
                    try:
                        message = pyst2.ManagerMsg(data)
                    except Exception:
                        log.warning("pyst2 could not parse an AMI message; dropping session",
                                    exc_info=True)
                        self._connected.clear()
                        shutdown(raw_socket(self))
                if message is None:
                    self._event_queue.put(None)
                    for _ in list(self._reswaiting):
                        self._response_queue.put(None)
                    break
                if message.has_header("Event"):
                    self._event_queue.put(pyst2.Event(message))
                elif message.has_header("Response"):
                    self._response_queue.put(message)
        finally:
            reader.join()


def shutdown(sock: socket.socket | None) -> None:
    """Wake pyst2's reader thread and end the connection, whatever state it is in."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def raw_socket(manager: SafeManager) -> socket.socket | None:
    sock_io = getattr(manager, "_sock", None)
    return getattr(sock_io, "_sock", None) if sock_io is not None else None


def to_cdict(headers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """pyst2 takes a dict (lists for repeated headers). Refuse orders a dict cannot express, so
    what pyst2 writes is byte-for-byte what ``serialize_action`` approved."""
    cdict: dict[str, Any] = {}
    for key, value in headers:
        if key not in cdict:
            cdict[key] = value
        elif isinstance(cdict[key], list):
            cdict[key].append(value)
        else:
            cdict[key] = [cdict[key], value]
    rebuilt = [
        (key, item)
        for key, value in cdict.items()
        for item in (value if isinstance(value, list) else [value])
    ]
    if rebuilt != list(headers):
        raise UnsafeAMIValue("repeated AMI headers must be adjacent")
    return cdict



def disarm(manager: SafeManager, *, wake_threads: bool = True) -> None:
    manager._connected.clear()
    manager._running.clear()
    if wake_threads:
        manager._message_queue.put(None)
        manager._event_queue.put(None)
