"""One AMI TCP session: banner, framing, serial action processing and event delivery.

Mirrors ``session_do``/``do_message``/``process_message`` in ``manager.c``: actions are handled
one at a time; while an action runs (a synchronous Originate can take the whole ring time) the
session's events wait and are written after the reply, because Asterisk only writes events from
the session thread between actions. Slow readers are dropped instead of buffering forever
(``writetimeout``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dispatcher.adapters.ami.protocol import AMIMessage
from pbxsim.wire import ALL_EVENTS, LineAssembler, render

if TYPE_CHECKING:
    from pbxsim.core import PBXCore

log = logging.getLogger("pbxsim")

MAX_HEADERS = 128  # AST_MAX_MANHEADERS
_ids = itertools.count(1)


def parse_message(lines: Iterable[str]) -> AMIMessage:
    """Header lines as ``__astman_get_header`` sees them: the name is everything before the
    first colon (no trimming), the value starts after leading blanks."""
    items: list[tuple[str, str]] = []
    for line in lines:
        key, sep, value = line.partition(":")
        items.append((key, value.lstrip(" \t")) if sep else ("", line))
    return AMIMessage(tuple(items))


def action_name(message: AMIMessage) -> str:
    """``GET_HEADER_SKIP_EMPTY`` lookup of ``Action``."""
    return next((v for v in message.get_all("Action") if v.strip()), "").strip()


class AMISession:
    def __init__(self, core: PBXCore, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.id = next(_ids)
        self.core = core
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.username = ""
        self.event_mask = ALL_EVENTS  # build_mansession: send_events = -1
        self.challenge = ""
        self.closed = False
        self._busy = False
        self._deferred: list[bytes] = []
        self._started = asyncio.get_running_loop().time()

    # -- main loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        self.core.sessions.add(self)
        try:
            self.send_raw(f"Asterisk Call Manager/{self.core.config.ami_version}\r\n".encode())
            await self._serve()
        except (ConnectionError, OSError):
            pass
        finally:
            self.core.sessions.discard(self)
            self.close()

    async def _serve(self) -> None:
        assembler = LineAssembler()
        lines: list[str] = []
        overflow = False
        while not self.closed:
            line = assembler.next_line()
            if line is None:
                data = await self._read()
                if not data:
                    return
                assembler.feed(data)
                continue
            if line:
                if len(lines) < MAX_HEADERS:
                    lines.append(line)
                else:
                    overflow = True
                continue
            message = parse_message(lines)
            lines = []
            if overflow or assembler.too_long:
                self.core.record_action(self.id, self.username, list(message.items))
                self.error(message, "Too many lines in message or allocation failure"
                           if overflow else "Failed to parse message: line too long")
                overflow = assembler.too_long = False
                continue
            if await self.process(message):
                return

    async def _read(self) -> bytes:
        timeout = None
        if not self.authenticated:
            elapsed = asyncio.get_running_loop().time() - self._started
            timeout = self.core.config.auth_timeout - elapsed
            if timeout <= 0:
                return b""
        try:
            return await asyncio.wait_for(self.reader.read(4096), timeout)
        except TimeoutError:
            return b""

    async def process(self, message: AMIMessage) -> bool:
        """Handle one action; True means close the session afterwards."""
        from pbxsim.actions import HANDLERS, unknown_action

        action = action_name(message)
        if not action:
            self.error(message, "Missing action in request")
            return False
        self.core.record_action(self.id, self.username, list(message.items))
        if self.core.silent:
            return False  # fault mode: swallowed, never answered
        lowered = action.lower()
        if not self.authenticated and lowered not in ("login", "logoff", "challenge"):
            self.error(message, "Permission denied")
            return False
        handler = HANDLERS.get(lowered)
        if handler is None:
            unknown_action(self, message, action)
            return False
        self._busy = True
        try:
            return await handler(self, message)
        finally:
            self._busy = False
            deferred, self._deferred = self._deferred, []
            for data in deferred:
                self.send_raw(data)

    # -- output ------------------------------------------------------------------------------
    def respond(self, message: AMIMessage, response: str, text: str | None = None,
                extra: Iterable[tuple[str, str]] = (), list_flag: str | None = None) -> None:
        """``astman_send_response_full``: Response, ActionID, EventList, Message, then extra."""
        items = [("Response", response)]
        action_id = message.get("ActionID")
        if action_id:
            items.append(("ActionID", action_id))
        if list_flag:
            items.append(("EventList", list_flag))
        if text is not None:
            items.append(("Message", text))
        items.extend(extra)
        self.send(items)

    def error(self, message: AMIMessage, text: str) -> None:
        self.respond(message, "Error", text)

    def ack(self, message: AMIMessage, text: str) -> None:
        self.respond(message, "Success", text)

    def send(self, items: Iterable[tuple[str, str]]) -> None:
        self.send_raw(render(items))

    def send_raw(self, data: bytes) -> None:
        if self.closed or self.core.silent:
            return
        transport = self.writer.transport
        if transport.is_closing():
            return
        self.writer.write(data)
        if transport.get_write_buffer_size() > self.core.config.max_write_buffer:
            log.warning("pbxsim: session %s does not read its events, dropping it", self.id)
            self.abort()

    def deliver_event(self, bit: int, data: bytes) -> None:
        """A broadcast event: only to logged-in sessions whose mask includes its class."""
        if not self.authenticated or self.closed or (self.event_mask & bit) != bit:
            return
        if self._busy:
            self._deferred.append(data)
        else:
            self.send_raw(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()

    def abort(self) -> None:
        self.closed = True
        self.writer.transport.abort()
