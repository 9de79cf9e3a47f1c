"""The settings of a running ``dispatcher run``, for the commands typed in another terminal.

The embedded Redis and PostgreSQL get new ports on each run, so copying them from the banner
is a trap. While the stack runs it keeps its settings in ``.run/stack.env`` (readable only by
its owner: it holds the API key and the AMI secret), and the ``dispatcher`` commands take from
it whatever the environment does not set. The file names the stack's process; once that is
gone the file is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

FILE = "stack.env"
PID = "DISPATCHER_STACK_PID"
_SHARED = ("DATABASE_URL", "REDIS_URL")


def home() -> Path:
    """Where the development stack keeps its state: ``DISPATCHER_HOME`` or ``./.run``."""
    return Path(os.environ.get("DISPATCHER_HOME") or Path.cwd() / ".run").resolve()


def write(root: Path, env: Mapping[str, str]) -> Path:
    """Keep the settings the stack's processes run with (this process is the stack)."""
    path = root / FILE
    lines = [f"# written by `dispatcher run`; ignored once process {os.getpid()} is gone",
             f"{PID}={os.getpid()}"]
    lines += [f"{key}={value}" for key, value in sorted(env.items())
              if (key in _SHARED or key.startswith("DISPATCHER_")) and key != "DISPATCHER_HOME"
              and "\n" not in value]
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    return path


def remove(root: Path) -> None:
    (root / FILE).unlink(missing_ok=True)


def running(root: Path) -> dict[str, str]:
    """The running stack's settings, or nothing when no stack runs from ``root``."""
    try:
        text = (root / FILE).read_text()
    except OSError:
        return {}
    values = dict(line.split("=", 1) for line in text.splitlines()
                  if line and not line.startswith("#") and "=" in line)
    try:
        os.kill(int(values.pop(PID, "")), 0)
    except (ValueError, ProcessLookupError):
        return {}
    except PermissionError:
        pass  # alive, run by another user
    return values


def apply(environ: MutableMapping[str, str]) -> list[str]:
    """Fill in, from a running stack, what ``environ`` does not set; the names filled in."""
    filled = []
    for key, value in running(home()).items():
        if not environ.get(key):
            environ[key] = value
            filled.append(key)
    return filled
