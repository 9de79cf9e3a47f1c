"""``dispatcher run``'s supervisor: a process that dies is restarted, the others keep running,
and Ctrl-C still stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import sys
from honcho.printer import Printer
from dispatcher.devstack.supervisor import Supervisor

manager = Supervisor(Printer(sys.stdout))
manager.add_process("steady", "exec sleep 60")
manager.add_process("victim", "exec sleep 60")
manager.loop()
sys.exit(manager.returncode or 0)
"""


def _pids(text: str, name: str) -> list[int]:
    return [int(p) for p in re.findall(rf"{name}\s*\| {name} started \(pid=(\d+)\)|"
                                       rf"system \| {name} started \(pid=(\d+)\)", text)
            for p in p if p]


def _wait_for(path: Path, name: str, count: int, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = _pids(path.read_text(), name)
        if len(pids) >= count:
            return pids
        assert time.monotonic() < deadline, path.read_text()
        time.sleep(0.1)


def test_a_killed_process_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        stack = subprocess.Popen([sys.executable, "-u", "-c", SCRIPT], stdout=sink,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        steady = _wait_for(out, "steady", 1)[0]
        victim = _wait_for(out, "victim", 1)[0]
        os.kill(victim, signal.SIGKILL)
        restarted = _wait_for(out, "victim", 2)[1]
        assert restarted != victim
        os.kill(steady, 0)  # still the same process, never stopped
        assert stack.poll() is None
        assert "restarting it in" in out.read_text()
        stack.send_signal(signal.SIGINT)  # Ctrl-C stops everything
        assert stack.wait(20) == 130
        for pid in (steady, restarted):
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _alive(pid)
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
        for name in ("steady", "victim"):
            for pid in _pids(out.read_text(), name):
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not running
        return stat.read().split()[2] != "Z"
