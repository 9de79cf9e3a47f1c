"""Start the real processes of the stack (gunicorn, Celery worker, event consumer) for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.engine import make_engine, make_session_factory
from dispatcher.adapters.db.tables import CallRow
from dispatcher.devstack.embedded import EmbeddedPostgres, free_port
from dispatcher.domain.status import FINAL_STATUSES
from dispatcher.usecases import api_keys
from pbxsim import PBXSimulator, SimConfig
from pbxsim.cdr_pgsql import PgCdrWriter

BIN = Path(sys.executable).parent


class ProcessGroup:
    def __init__(self, logdir: Path, env: dict[str, str]) -> None:
        self.logdir = logdir
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str],
              extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, env={**self.env, **(extra_env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")


def start_web(group: ProcessGroup, port: int) -> str:
    group.start("web", [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                        "web:create_app()"])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        group.check_alive()
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return base
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not come up:\n{group.tail('web')}")


def start_worker(group: ProcessGroup, queue: str, concurrency: int = 4,
                 name: str = "worker") -> None:
    group.start(name, [str(BIN / "celery"), "-A", "workers.celery_app", "worker",
                       "--loglevel=INFO", f"--queues={queue}", f"--concurrency={concurrency}",
                       f"--hostname={name}-{os.getpid()}@%h", "--without-gossip",
                       "--without-mingle"])


def start_beat(group: ProcessGroup, schedule: Path) -> None:
    group.start("beat", [str(BIN / "celery"), "-A", "workers.celery_app", "beat",
                         "--loglevel=INFO", f"--schedule={schedule}"])


def start_consumer(group: ProcessGroup, name: str = "events",
                   extra_env: dict[str, str] | None = None) -> None:
    group.start(name, [str(BIN / "dispatcher"), "events"], extra_env)


@dataclass
class Stack:
    base: str
    key: str
    sim: PBXSimulator
    sessions: sessionmaker[Session]
    group: ProcessGroup
    queue: str = ""

    def post(self, body: dict[str, object]) -> requests.Response:
        return requests.post(f"{self.base}/v1/calls", json=body, timeout=10,
                             headers={"Authorization": f"Bearer {self.key}"})

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base}{path}", timeout=10,
                            headers={"Authorization": f"Bearer {self.key}"})

    def cancel(self, call_id: str) -> requests.Response:
        return requests.post(f"{self.base}/v1/calls/{call_id}/cancel", timeout=10,
                             headers={"Authorization": f"Bearer {self.key}"})

    def originates_per_call(self) -> Counter[str]:
        """How many Originate actions the PBX received per call (by the CALL_ID we send)."""
        counts: Counter[str] = Counter()
        for action in self.sim.actions:
            if action.get("Action") != "Originate":
                continue
            for key, value in action["_items"]:
                if key.lower() == "variable" and value.startswith("CALL_ID="):
                    counts[value.split("=", 1)[1]] += 1
        return counts

    def rows(self) -> list[CallRow]:
        with self.sessions() as session:
            return list(session.scalars(select(CallRow)))

    def wait_final(self, ids: set[str], deadline: float) -> list[CallRow]:
        end = time.monotonic() + deadline
        while True:
            rows = [r for r in self.rows() if str(r.id) in ids]
            if len(rows) == len(ids) and all(r.status in FINAL_STATUSES for r in rows):
                return rows
            if time.monotonic() > end:
                pending = Counter(r.status for r in rows if r.status not in FINAL_STATUSES)
                raise AssertionError(f"calls not final after {deadline}s: {pending}\n"
                                     f"worker:\n{self.group.tail('worker')}\n"
                                     f"events:\n{self.group.tail('events')}")
            self.group.check_alive()
            time.sleep(0.2)


@contextmanager
def running_stack(postgres: EmbeddedPostgres, template: str, redis_url: str, logdir: Path,
                  config: SimConfig, extra_env: dict[str, str] | None = None,
                  concurrency: int = 4, beat: bool = False,
                  cdr: bool = False) -> Iterator[Stack]:
    """Simulator in this process; consumer, Celery worker and gunicorn as real processes.
    With ``cdr``, the simulated PBX writes its CDRs to the database, as cdr_pgsql does."""
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    postgres.server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}";')
    database_url = postgres.url_for(name)
    writer = PgCdrWriter(database_url) if cdr else None
    sim = PBXSimulator(replace(config, cdr_sink=writer) if writer else config)
    sim.start()
    queue = f"e2e-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "DISPATCHER_AMI_HOST": "127.0.0.1", "DISPATCHER_AMI_PORT": str(sim.port),
        "DISPATCHER_AMI_USERNAME": "dispatcher", "DISPATCHER_AMI_SECRET": "worker-secret",
        "DISPATCHER_AMI_EVENTS_USERNAME": "events", "DISPATCHER_AMI_EVENTS_SECRET": "events-secret",
        "DISPATCHER_QUEUE_NAME": queue, "DISPATCHER_RECONCILE_INTERVAL": "5",
        "DISPATCHER_TRUNK_NAME": f"trunk-{queue}",
        "DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID": "yes",  # the simulator does not care
        **(extra_env or {}),
    }
    group = ProcessGroup(logdir, env)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        start_consumer(group)
        start_worker(group, queue, concurrency)
        if beat:
            start_beat(group, logdir / "celerybeat-schedule")
        base = start_web(group, free_port())
        key = api_keys.create_api_key(sessions, "e2e")[1]
        yield Stack(base, key, sim, sessions, group, queue)
    finally:
        group.stop_all()
        sim.stop()
        engine.dispose()
        if writer:
            writer.close()
