"""Commands typed beside a running `make run` find its settings; a stopped stack's are ignored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher.devstack import stack_env


def test_a_running_stack_lends_what_the_environment_does_not_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_HOME", str(tmp_path))
    path = stack_env.write(tmp_path, {
        "REDIS_URL": "redis://127.0.0.1:40001/0", "DATABASE_URL": "postgresql://a@b/c",
        "DISPATCHER_API_KEY": "dsp_x", "DISPATCHER_HOME": "/elsewhere", "HOME": "/root"})
    assert path.stat().st_mode & 0o777 == 0o600
    environ = {"DATABASE_URL": "postgresql://mine@here/db"}
    filled = stack_env.apply(environ)
    assert sorted(filled) == ["DISPATCHER_API_KEY", "REDIS_URL"]
    assert environ == {"DATABASE_URL": "postgresql://mine@here/db",
                       "REDIS_URL": "redis://127.0.0.1:40001/0", "DISPATCHER_API_KEY": "dsp_x"}


def test_the_settings_of_a_stack_that_is_gone_are_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_HOME", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / stack_env.FILE).write_text(f"{stack_env.PID}={gone}\nREDIS_URL=redis://x\n")
    environ: dict[str, str] = {}
    assert stack_env.apply(environ) == [] and environ == {}
    stack_env.remove(tmp_path)
    assert not (tmp_path / stack_env.FILE).exists()
    assert stack_env.running(tmp_path) == {}
