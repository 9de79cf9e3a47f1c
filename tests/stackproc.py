"""Start the real processes of the stack (gunicorn, Celery worker, event consumer) for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

BIN = Path(sys.executable).parent


class ProcessGroup:
    def __init__(self, logdir: Path, env: dict[str, str]) -> None:
        self.logdir = logdir
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
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


def start_consumer(group: ProcessGroup, name: str = "events") -> None:
    group.start(name, [str(BIN / "dispatcher"), "events"])
