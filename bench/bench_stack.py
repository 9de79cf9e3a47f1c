"""The processes a benchmark run starts, shared by the benchmarks: embedded PostgreSQL and
Redis once per benchmark, and per run a fresh database, gunicorn, and for each PBX an event
consumer and a Celery worker on that PBX's queue (``docs/deployment.md``: one worker and one
``dispatcher events`` per PBX), all as real processes so their CPU and memory are their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from line_figures import peak_rss_mb
from sqlalchemy import func, select

from dispatcher.adapters.db.engine import make_engine, make_session_factory
from dispatcher.adapters.db.migrate import upgrade
from dispatcher.adapters.db.tables import CallRow
from dispatcher.devstack.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from dispatcher.domain.status import FINAL_STATUSES
from dispatcher.usecases import api_keys

BIN = Path(sys.executable).parent


@dataclass
class Services:
    postgres: EmbeddedPostgres
    redis_url: str
    logdir: Path
    redis_pid: int = 0

    @property
    def postgres_pid(self) -> int:
        """The postmaster (pgserver starts it detached, so it is not our child)."""
        try:
            return int((self.postgres.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0


@contextmanager
def services(prefix: str) -> Iterator[Services]:
    """Embedded PostgreSQL and Redis in a new temporary folder, stopped on the way out."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    postgres = EmbeddedPostgres(root, database="bench")
    postgres.start()
    redis = EmbeddedRedis(root)
    try:
        url = redis.start()
        yield Services(postgres, url, root, redis.process.pid if redis.process else 0)
    finally:
        redis.stop()
        postgres.stop()


@dataclass(frozen=True)
class Dialer:
    """What one PBX needs: an event consumer on its AMI and a Celery worker on its queue."""

    label: str  # suffix of the processes' names ("" in one-PBX runs: "events", "worker")
    queue: str
    ami_port: int


class Stack:
    """One run's processes against a fresh database."""

    def __init__(self, svc: Services, name: str, env: dict[str, str],
                 dialers: Sequence[Dialer] = (), concurrency: int = 4) -> None:
        db = f"bench_{name}_{uuid.uuid4().hex[:6]}"
        svc.postgres.create_database(db)
        self.database_url = svc.postgres.url_for(db)
        upgrade(self.database_url)
        self.sessions = make_session_factory(make_engine(self.database_url))
        self.key = api_keys.create_api_key(self.sessions, "bench")[1]
        self.env = {
            **os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": svc.redis_url,
            "DISPATCHER_AMI_HOST": "127.0.0.1", "DISPATCHER_AMI_USERNAME": "dispatcher",
            "DISPATCHER_AMI_SECRET": "bench", "DISPATCHER_LOG_LEVEL": "WARNING",
            "DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID": "yes", **env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logdir = svc.logdir
        self.port = free_port()
        self._start("web", [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
                            "--workers", os.environ.get("WEB_CONCURRENCY", "4"),
                            "--threads", os.environ.get("WEB_THREADS", "1"),
                            "--log-level", "warning", "web:create_app()"])
        for dialer in dialers:
            own = {"DISPATCHER_AMI_PORT": str(dialer.ami_port),
                   "DISPATCHER_QUEUE_NAME": dialer.queue}
            suffix = f"-{dialer.label}" if dialer.label else ""
            self._start(f"events{suffix}", [str(BIN / "dispatcher"), "events"], own)
            self._start(f"worker{suffix}", [
                str(BIN / "celery"), "-A", "workers.celery_app", "worker", "--loglevel=WARNING",
                f"--queues={dialer.queue}", f"--concurrency={concurrency}", "--without-gossip",
                "--without-mingle", f"--hostname={dialer.queue}@%h"], own)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_healthy(self.base, self.procs["web"], self.logdir)
        time.sleep(2.0 if dialers else 0)  # let the workers and consumers log in

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self.procs[name] = subprocess.Popen(args, env={**self.env, **(env or {})}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def rss(self) -> dict[str, float]:
        return {name: peak_rss_mb(proc.pid) for name, proc in self.procs.items()}

    def roots(self) -> dict[str, list[int]]:
        """Process ids by kind ("web", "events", "worker"), for CPU readings."""
        kinds: dict[str, list[int]] = {}
        for name, proc in self.procs.items():
            kinds.setdefault(name.split("-")[0], []).append(proc.pid)
        return kinds

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)

    def post(self, session: requests.Session, number: str) -> str:
        response = session.post(f"{self.base}/v1/calls", json={"to": number}, timeout=30,
                                headers={"Authorization": f"Bearer {self.key}"})
        response.raise_for_status()
        return str(response.json()["id"])

    def rows(self) -> list[CallRow]:
        with self.sessions() as session:
            return list(session.scalars(select(CallRow)))

    def wait_final(self, count: int, deadline: float) -> list[CallRow]:
        """Poll with two counts, not by loading every row: the benchmark shares the cores
        with what it measures (loading 600 rows twice a second cost seconds of CPU)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            with self.sessions() as session:
                total = session.scalar(select(func.count()).select_from(CallRow))
                final = session.scalar(select(func.count()).select_from(CallRow).where(
                    CallRow.status.in_([s.value for s in FINAL_STATUSES])))
            if (total or 0) >= count and final == total:
                return self.rows()
            time.sleep(0.5)
        raise SystemExit(f"calls not final within {deadline}s; see {self.logdir}")


def wait_healthy(base: str, proc: subprocess.Popen[bytes], logdir: Path) -> None:
    """Until ``base``/healthz answers (at most 30 s, or until the process dies)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"gunicorn did not start; see {logdir}")
        time.sleep(0.1)


@contextmanager
def running(svc: Services, name: str, env: dict[str, str], dialers: Sequence[Dialer] = (),
            concurrency: int = 4) -> Iterator[Stack]:
    stack = Stack(svc, name, env, dialers, concurrency)
    try:
        yield stack
    finally:
        stack.stop()


def submit_all(stack: Stack, calls: Sequence[dict[str, object]], batch: int = 100) -> float:
    """Queue the calls the way a bulk script would: JSON arrays of ``batch`` calls."""
    start = time.monotonic()
    session = requests.Session()
    for i in range(0, len(calls), batch):
        session.post(f"{stack.base}/v1/calls", json=list(calls[i:i + batch]),
                     headers={"Authorization": f"Bearer {stack.key}"},
                     timeout=60).raise_for_status()
    return time.monotonic() - start
