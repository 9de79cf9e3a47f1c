"""The `dispatcher` command in the environments operators run it in: nothing set, no
XDG_RUNTIME_DIR (cron, sudo, containers). One clear line, never a traceback or a warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_command_missing_a_setting_says_so_in_one_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "DISPATCHER_HOME": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "dispatcher.cli.main", "trunk", "list"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == (
        "dispatcher: missing required setting(s): DISPATCHER_REDIS_URL")
    assert "make run" in done.stderr


def test_commands_print_no_runtime_dir_warning(tmp_path: Path) -> None:
    """XDG_RUNTIME_DIR is unset under cron, sudo and in containers; platformdirs warned about
    it (through pgserver) on every command that opened the embedded database."""
    env = {"PATH": os.environ["PATH"], "DISPATCHER_HOME": str(tmp_path / ".run"),
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "dispatcher.cli.main", "apikey", "list"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "XDG_RUNTIME_DIR" not in done.stderr and "Warning" not in done.stderr
