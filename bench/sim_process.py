"""A simulated PBX in a process of its own, for benchmarks that weigh its CPU.

Each real PBX is its own machine; run inside the benchmark, several simulators would share
one interpreter lock with each other and with the benchmark's polling, and their CPU could not
be told apart from the benchmark's. A spawned process (not forked: the benchmark has threads)
serves one :class:`~pbxsim.SimConfig`, reports its port, and on ``stop`` its peak of
simultaneous calls.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection

from pbxsim import PBXSimulator, SimConfig

START_SECONDS = 30.0


def _serve(config: SimConfig, conn: Connection, max_seconds: float) -> None:
    sim = PBXSimulator(config).start()
    try:
        conn.send(sim.port)
        conn.poll(max_seconds)  # the "stop" message, or the bound on a forgotten simulator
        conn.send({"max_simultaneous": sim.max_live_channels})
    finally:
        sim.stop()


class SimProcess:
    def __init__(self, config: SimConfig, max_seconds: float = 4 * 3600) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(config, child, max_seconds),
                                       name="pbxsim", daemon=True)
        self.process.start()
        if not self._conn.poll(START_SECONDS):
            self.process.kill()
            raise SystemExit(f"the simulated PBX did not start within {START_SECONDS:g} s")
        self.port: int = self._conn.recv()

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    def stop(self) -> dict[str, int]:
        """Stop it and return what it saw; bounded waits, then a kill."""
        stats: dict[str, int] = {}
        try:
            self._conn.send("stop")
            if self._conn.poll(15):
                stats = self._conn.recv()
        except (OSError, EOFError):
            pass
        self.process.join(15)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        return stats
