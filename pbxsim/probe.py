"""A deliberately dumb, blocking AMI client for tests of the simulator (or of real Asterisk).

Production clients hide framing and correlation; tests need the opposite: send arbitrary bytes
(bare LF, oversized lines, duplicate headers), keep *every* message received in order, and wait
for a condition with a bound. A reader thread collects messages so a test never blocks on I/O.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterable

from dispatcher.adapters.ami.protocol import AMIMessage, FrameDecoder
from pbxsim.wire import render

_ids = itertools.count(1)


class AMIProbe:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        self.messages: list[AMIMessage] = []
        self.raw = bytearray()
        self.closed = False  # the server closed (or reset) the connection
        self._decoder = FrameDecoder()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="amiprobe", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self.closed = True
                    self._cond.notify_all()
                    return
                self.raw.extend(data)
                self.messages.extend(self._decoder.feed(data))
                self._cond.notify_all()

    @property
    def banner(self) -> str | None:
        return self._decoder.banner

    # -- sending -----------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, items: Iterable[tuple[str, str]]) -> None:
        self.send_raw(render(items))

    def action(self, name: str, *extra: tuple[str, str], **headers: str) -> str:
        """Send ``Action: name`` with a fresh ActionID; returns the ActionID."""
        action_id = f"probe-{next(_ids)}"
        self.send([("Action", name), ("ActionID", action_id), *extra, *headers.items()])
        return action_id

    def login(self, username: str, secret: str, events: str = "on") -> AMIMessage:
        action_id = self.action("Login", Username=username, Secret=secret, Events=events)
        return self.response(action_id)

    # -- waiting -----------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[AMIMessage], bool], timeout: float | None = None,
                 start: int = 0) -> AMIMessage:
        """First message (from index ``start``) matching ``predicate``; AssertionError if none
        arrives within ``timeout``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            while True:
                for message in self.messages[start:]:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    names = [f"{m.kind}:{m.name}" for m in self.messages[start:]]
                    raise AssertionError(f"no matching AMI message; got {names}")
                self._cond.wait(remaining)

    def response(self, action_id: str, timeout: float | None = None) -> AMIMessage:
        return self.wait_for(lambda m: m.kind == "response" and m.get("ActionID") == action_id,
                             timeout)

    def event(self, name: str, timeout: float | None = None, **headers: str) -> AMIMessage:
        return self.wait_for(lambda m: m.kind == "event" and m.name == name and all(
            m.get(k) == v for k, v in headers.items()), timeout)

    def events(self, name: str | None = None) -> list[AMIMessage]:
        with self._cond:
            return [m for m in self.messages
                    if m.kind == "event" and (name is None or m.name == name)]

    def settle(self, quiet: float = 0.2, timeout: float = 5.0) -> None:
        """Wait until nothing new has arrived for ``quiet`` seconds (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while time.monotonic() < deadline and not self.closed:
                count = len(self.raw)
                self._cond.wait(quiet)
                if len(self.raw) == count:
                    return

    def wait_closed(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            while not self.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> AMIProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
