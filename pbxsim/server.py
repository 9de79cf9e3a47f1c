"""The simulator's public face: a TCP server on its own asyncio thread plus test/ops hooks.

Tests and the dev stack drive it from ordinary threads, so every public method either reads a
snapshot under the core lock or runs a coroutine on the simulator loop and waits for it. The
hooks are the oracles a dispatcher test needs: how often each ChannelId was originated, the
peak of simultaneous trunk lines, every action received (secrets redacted), and faults
(restart, dropped sessions, silence, unreachable trunk).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pbxsim.config import SimConfig
from pbxsim.core import PBXCore
from pbxsim.session import AMISession

log = logging.getLogger("pbxsim")
T = TypeVar("T")


class PBXSimulator:
    """A simulated Asterisk 22 AMI on ``config.host:config.port`` (port 0 picks one)."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self._core = PBXCore(self.config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._session_tasks: set[asyncio.Task[None]] = set()
        self.port: int = self.config.port

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> PBXSimulator:
        """Start listening; returns once the port is bound (``self.port``)."""
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # surfaced to the caller of start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="pbxsim", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        log.debug("pbxsim listening on %s:%s", self.config.host, self.port)
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        try:
            self._call(self._shutdown(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> PBXSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- hooks -------------------------------------------------------------------------------
    def originate_counts(self) -> dict[str, int]:
        """ChannelId -> number of (authenticated) Originate actions that carried it."""
        with self._core.lock:
            return dict(self._core.originates)

    @property
    def max_live_channels(self) -> int:
        """Peak number of channels simultaneously holding a trunk line."""
        with self._core.lock:
            return self._core.max_live

    def live_channels(self) -> list[dict[str, object]]:
        return [channel.summary() for channel in self._core.live()]

    @property
    def actions(self) -> list[dict[str, Any]]:
        """Every action received, oldest first; Secret/Key values read ``REDACTED``."""
        with self._core.lock:
            return [dict(entry) for entry in self._core.action_log]

    @property
    def cdrs(self) -> list[dict[str, str]]:
        with self._core.lock:
            return [dict(record) for record in self._core.cdr_log]

    @property
    def session_count(self) -> int:
        return len(self._core.sessions)

    def restart(self, downtime: float = 0.0) -> None:
        """Asterisk restart: channels vanish without events, sessions close, new Uptime and
        CoreStartupTime. With ``downtime`` the port refuses connections for that long."""
        self._call(self._restart(downtime), timeout=downtime + 10)

    def drop_sessions(self) -> None:
        """Abort every AMI TCP connection (calls carry on)."""
        self._call(self._drop(), timeout=10)

    def set_silent(self, silent: bool) -> None:
        """Fault mode: accept connections and actions, but write nothing at all."""
        self._core.silent = silent

    def set_trunk_reachable(self, reachable: bool) -> None:
        """Qualify result for the trunk: unreachable makes new calls fail with no channel."""
        self._call(self._reachability(reachable), timeout=10)

    # -- loop side ---------------------------------------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._loop is None or self._thread is None:
            coro.close()
            raise RuntimeError("simulator not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.config.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._session_tasks.add(task)  # type: ignore[arg-type]
        try:
            await AMISession(self._core, reader, writer).run()
        except asyncio.CancelledError:
            pass  # dropped by restart()/drop_sessions()/stop(); the socket is already gone
        finally:
            self._session_tasks.discard(task)  # type: ignore[arg-type]

    async def _drop(self) -> None:
        for session in list(self._core.sessions):
            session.abort()
        tasks = list(self._session_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _restart(self, downtime: float) -> None:
        await self._core.vanish_calls()
        await self._drop()
        if downtime > 0 and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            await asyncio.sleep(downtime)
            self._core.boot()
            await self._listen()
        else:
            self._core.boot()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._core.vanish_calls()
        await self._drop()

    async def _reachability(self, reachable: bool) -> None:
        core = self._core
        if core.trunk_reachable == reachable:
            return
        core.trunk_reachable = reachable
        word = "Reachable" if reachable else "Unreachable"
        core.emit("PeerStatus", "system", [("ChannelType", "PJSIP"),
                                           ("Peer", f"PJSIP/{self.config.trunk}"),
                                           ("PeerStatus", word)])
        core.emit("ContactStatus", "system", [
            ("URI", "sip:127.0.0.1:5060"), ("ContactStatus", word),
            ("AOR", self.config.trunk), ("EndpointName", self.config.trunk),
            ("RoundtripUsec", "1000" if reachable else "0")])
        core.update_device_state()
