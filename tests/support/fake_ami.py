"""A tiny scripted AMI peer over real TCP on 127.0.0.1, shared by the ``test_ami_*`` tests.

It is deliberately dumb: it speaks just enough AMI (banner, Login, per-action replies) for the
client code to be exercised against misbehaviour that a full simulator would not produce on
purpose: silence, a wrong ActionID, a close in the middle of a message, hostile header values.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, Unpack

from dispatcher.adapters.ami.originate import OriginateRequest
from dispatcher.adapters.ami.protocol import AMIMessage, FrameDecoder

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def frame(*pairs: tuple[str, str]) -> bytes:
    """Encode one server message (no validation: the peer may send anything)."""
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in pairs) + b"\r\n"


class PeerConn:
    """One accepted connection, as seen by scripted handlers."""

    def __init__(self, sock: socket.socket, index: int) -> None:
        self.sock = sock
        self.index = index
        self.closed = False
        self.authed = False
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._lock:
            if not self.closed:
                try:
                    self.sock.sendall(data)
                except OSError:
                    self.closed = True

    def reply(self, msg: AMIMessage, response: str, *extra: tuple[str, str],
              action_id: str | None = None) -> None:
        aid = msg.get("ActionID", "") if action_id is None else action_id
        self.send(frame(("Response", response), ("ActionID", aid or ""), *extra))

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


Handler = Callable[[PeerConn, AMIMessage], None]


def default_reply(conn: PeerConn, msg: AMIMessage) -> None:
    """What a healthy Asterisk would answer (enough for these tests)."""
    action = (msg.get("Action") or "").lower()
    if action == "originate":
        conn.reply(msg, "Success", ("Message", "Originate successfully queued"))
    elif action == "ping":
        conn.reply(msg, "Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))
    elif action == "hangup":
        if msg.get("Channel") == "missing":
            conn.reply(msg, "Error", ("Message", "No such channel"))
        else:
            conn.reply(msg, "Success", ("Message", "Channel Hungup"))
    elif action == "logoff":
        conn.reply(msg, "Goodbye", ("Message", "Thanks for all the fish."))
        conn.close()
    else:
        conn.reply(msg, "Error", ("Message", f"Invalid/unknown command: {msg.get('Action')}"))


def silent(conn: PeerConn, msg: AMIMessage) -> None:
    """Accept the action and never answer (a wedged or half-open Asterisk)."""


def wrong_action_id(conn: PeerConn, msg: AMIMessage) -> None:
    conn.reply(msg, "Success", ("Message", "Originate successfully queued"),
               action_id="host-00000000")


def close_mid_message(conn: PeerConn, msg: AMIMessage) -> None:
    conn.send(f"Response: Success\r\nActionID: {msg.get('ActionID')}\r\nMess".encode())
    time.sleep(0.05)
    conn.close()


def error_reply(message: str) -> Handler:
    def handler(conn: PeerConn, msg: AMIMessage) -> None:
        conn.reply(msg, "Error", ("Message", message))

    return handler


class FakeAMI:
    """Scripted AMI server. ``handler`` answers every non-Login action (swap it at any time);
    ``after_login`` runs once per successful login (e.g. to push events)."""

    def __init__(self, users: dict[str, str] | None = None, *, banner: bytes | None = BANNER,
                 auth_delay: float = 0.0, fully_booted: bool = True) -> None:
        self.users = users if users is not None else {"u": "s"}
        self.banner = banner
        self.auth_delay = auth_delay
        self.fully_booted = fully_booted
        self.handler: Handler = default_reply
        self.after_login: Callable[[PeerConn], None] | None = None
        self.received: list[tuple[int, AMIMessage]] = []
        self.raw: dict[int, bytearray] = {}
        self.conns: list[PeerConn] = []
        self.lock = threading.Lock()
        fake = self

        class _Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake._serve(self.request)

        class _Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> FakeAMI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for conn in list(self.conns):
            conn.close()

    # -- inspection -------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        with self.lock:
            return len(self.conns)

    def actions(self, name: str | None = None, conn: int | None = None) -> list[AMIMessage]:
        with self.lock:
            return [
                m for i, m in self.received
                if (name is None or (m.get("Action") or "").lower() == name.lower())
                and (conn is None or i == conn)
            ]

    def raw_bytes(self, conn: int = 0) -> bytes:
        with self.lock:
            return bytes(self.raw.get(conn, b""))

    def broadcast(self, data: bytes) -> None:
        for conn in list(self.conns):
            if conn.authed:
                conn.send(data)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 2.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.01)
        raise AssertionError("condition not reached in time")

    # -- server side ------------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        with self.lock:
            conn = PeerConn(sock, len(self.conns))
            self.conns.append(conn)
            self.raw[conn.index] = bytearray()
        sock.settimeout(30)  # bounded even if a test forgets to close
        if self.banner is not None:
            conn.send(self.banner)
        decoder = FrameDecoder(expect_banner=False)
        while not conn.closed:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            with self.lock:
                self.raw[conn.index].extend(data)
            for msg in decoder.feed(data):
                with self.lock:
                    self.received.append((conn.index, msg))
                if (msg.get("Action") or "").lower() == "login":
                    self._login(conn, msg)
                elif self.banner is not None:
                    self.handler(conn, msg)
        conn.close()

    def _login(self, conn: PeerConn, msg: AMIMessage) -> None:
        if self.users.get(msg.get("Username") or "") == msg.get("Secret"):
            conn.authed = True
            conn.reply(msg, "Success", ("Message", "Authentication accepted"))
            if self.fully_booted and (msg.get("Events") or "on").lower() != "off":
                conn.send(frame(("Event", "FullyBooted"), ("Privilege", "system,all"),
                                ("Uptime", "27"), ("LastReload", "27"), ("Status", "Fully Booted")))
            if self.after_login is not None:
                self.after_login(conn)
        else:
            time.sleep(self.auth_delay)
            conn.reply(msg, "Error", ("Message", "Authentication failed"))
            conn.close()


def free_port() -> int:
    """A port nobody listens on (for connection-refused tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OriginateOptions(TypedDict, total=False):
    """The fields of an :class:`OriginateRequest` but its channel."""

    action_id: str
    timeout_s: int
    caller_id: str | None
    variables: Mapping[str, str]
    context: str | None
    exten: str | None
    priority: int | None
    application: str | None
    data: str | None


class OriginateFields(OriginateOptions, total=False):
    """The fields of an :class:`OriginateRequest`, any of which a test may set."""

    channel: str


def request(**kw: Unpack[OriginateFields]) -> OriginateRequest:
    fields: OriginateFields = {
        "action_id": str(uuid.uuid4()),
        "channel": "PJSIP/09121234567@carrier-trunk",
        "timeout_s": 30,
        "caller_id": '"Dispatcher" <5551000>',
        "variables": {"CALL_ID": "42"},
        "context": "dispatcher-answered",
        "exten": "s",
        "priority": 1,
    }
    fields.update(kw)
    return OriginateRequest(**fields)
