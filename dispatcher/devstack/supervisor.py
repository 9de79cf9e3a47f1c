"""Keep the development stack's processes running: restart the one that died.

Honcho, which ``dispatcher run`` uses to run the ``Procfile``, stops every process when any one
of them exits. For a stack that also holds the embedded PostgreSQL and Redis, a ``kill -9`` of
one worker then took everything down. Here a process that exits while the stack is not
stopping is started again after a short wait, which grows while it keeps dying at once, and
the others are left alone. Ctrl-C (or SIGTERM) still stops everything, as before.
"""

from __future__ import annotations

import datetime
import multiprocessing
import queue
import signal
from typing import Any

from honcho.manager import KILL_WAIT, SIGNALS, Manager

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_AFTER = datetime.timedelta(seconds=30)
"""A process that ran this long before dying is restarted with the first delay again."""


class Supervisor(Manager):  # type: ignore[misc]
    """A honcho ``Manager`` that restarts a process that died instead of stopping them all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._restart_at: dict[str, datetime.datetime] = {}
        self._delay: dict[str, float] = {}
        self._started_at: dict[str, datetime.datetime] = {}
        self._launching: set[str] = set()  # restarted, its pid not reported yet

    def loop(self) -> None:
        def _terminate(signum: int, _frame: object) -> None:
            self._system_print(f"{SIGNALS[signum]['name']} received\n")
            self.returncode = SIGNALS[signum]["rc"]
            self.terminate()

        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
        self._start()
        stopping_since: datetime.datetime | None = None
        while True:
            try:
                msg = self.events.get(timeout=0.1)
            except queue.Empty:
                msg = None
            if msg is not None:
                self._handle(msg)
            if self._terminating:
                stopping_since = stopping_since or self._clock.now()
                if self._all_stopped_now():
                    break
                if self._clock.now() - stopping_since > datetime.timedelta(seconds=KILL_WAIT):
                    self.kill()
            else:
                self._restart_due()

    def _handle(self, msg: Any) -> None:
        if msg.type == "line":
            self._printer.write(msg)
        elif msg.type == "start":
            self._launching.discard(msg.name)
            self._processes[msg.name]["pid"] = msg.data["pid"]
            self._started_at[msg.name] = self._clock.now()
            self._system_print(f"{msg.name} started (pid={msg.data['pid']})\n")
            if self._terminating:  # restarted just as the stack was being stopped
                self._procmgr.terminate(msg.data["pid"])
        elif msg.type == "stop":
            self._processes[msg.name]["returncode"] = msg.data["returncode"]
            self._system_print(f"{msg.name} stopped (rc={msg.data['returncode']})\n")
            if not self._terminating:
                self._schedule_restart(msg.name)

    def _schedule_restart(self, name: str) -> None:
        started = self._started_at.get(name)
        ran_long = started is not None and self._clock.now() - started > STABLE_AFTER
        delay = FIRST_DELAY if ran_long or name not in self._delay else \
            min(self._delay[name] * 2, MAX_DELAY)
        self._delay[name] = delay
        self._restart_at[name] = self._clock.now() + datetime.timedelta(seconds=delay)
        self._system_print(f"{name} died; restarting it in {delay:.0f}s "
                           "(the others keep running)\n")

    def _restart_due(self) -> None:
        now = self._clock.now()
        for name, when in list(self._restart_at.items()):
            if when <= now:
                del self._restart_at[name]
                entry = self._processes[name]
                entry.pop("pid", None)
                entry.pop("returncode", None)
                entry["process"] = multiprocessing.Process(
                    name=name, target=entry["obj"].run, args=(self.events, True))
                entry["process"].start()
                self._launching.add(name)

    def _killall(self, force: bool = False) -> None:
        """Honcho's, for processes that have a pid: one waiting for its restart has none."""
        for name, entry in self._processes.items():
            if "returncode" in entry or "pid" not in entry:
                continue
            signame = "SIGKILL" if force else "SIGTERM"
            self._system_print(f"sending {signame} to {name} (pid {entry['pid']})\n")
            if force:
                self._procmgr.kill(entry["pid"])
            else:
                self._procmgr.terminate(entry["pid"])

    def _all_stopped_now(self) -> bool:
        return not self._launching and all(
            "returncode" in p or "pid" not in p for p in self._processes.values())
