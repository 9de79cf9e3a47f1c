"""The API ingest phase of ``capacity_bench``: ``POST /v1/calls`` accepted per second, one call
per request and in JSON arrays, beside the calibration of what Flask under the same gunicorn
and load generator costs before any work (``hello_app``), with the CPU each request costs the
web, PostgreSQL and Redis.

No workers run: only the API's own path is measured. Loopback only; wrk runs for a fixed time,
the Python fallback is bounded in time and count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from bench_stack import BIN, Services, Stack, wait_healthy
from line_figures import tree_cpu_seconds

from dispatcher.devstack.embedded import free_port
from pbxsim import PBXSimulator, SimConfig

WRK_SCRIPT = """
counter = 0
request = function()
  local items = {}
  for i = 1, BATCH do
    counter = counter + 1
    items[i] = string.format('{"to": "+98912%03d1%03d"}', math.random(0, 999), counter % 1000)
  end
  local body = items[1]
  if BATCH > 1 then body = "[" .. table.concat(items, ",") .. "]" end
  return wrk.format("POST", "/v1/calls", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer KEY"}, body)
end
"""


@dataclass
class Ingest:
    label: str
    batch: int  # calls per request: 1 is a JSON object, more a JSON array
    requests: int
    seconds: float
    errors: int
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process kind

    @property
    def calls_per_second(self) -> float:
        return (self.requests - self.errors) * self.batch / self.seconds

    def cpu_ms_per_request(self) -> dict[str, float]:
        done = max(1, self.requests - self.errors)
        return {kind: seconds / done * 1000 for kind, seconds in self.cpu.items()}


@dataclass
class Target:
    """What the load goes to: a base URL, a key, and the processes whose CPU it costs."""

    base: str
    key: str
    logdir: Path
    roots: dict[str, list[int]]


def drive(target: Target, args: argparse.Namespace, batch: int, label: str) -> Ingest:
    before = tree_cpu_seconds(target.roots)
    if shutil.which("wrk"):
        result = _wrk(target, args, batch, label)
    else:
        result = _threads(target, args, batch, label)
    after = tree_cpu_seconds(target.roots)
    result.cpu = {kind: after[kind] - before[kind] for kind in after}
    return result


def _wrk(target: Target, args: argparse.Namespace, batch: int, label: str) -> Ingest:
    """wrk is a C load generator, so the client barely competes for the CPU."""
    script = target.logdir / f"ingest-{label}-{batch}.lua"
    script.write_text(WRK_SCRIPT.replace("KEY", target.key).replace("BATCH", str(batch)))
    out = subprocess.run(
        ["wrk", "-t2", f"-c{args.ingest_clients}", f"-d{int(args.ingest_seconds)}s",
         "--timeout", "10s", "-s", str(script), target.base],
        capture_output=True, text=True, timeout=args.ingest_seconds + 60).stdout
    total = int(out.split(" requests in ")[0].split()[-1])
    elapsed = float(out.split(" requests in ")[1].split("s,")[0])
    errors = 0
    for line in out.splitlines():
        if "Non-2xx" in line or "Socket errors" in line:
            errors += sum(int(x) for x in line.replace(",", " ").split() if x.isdigit())
    return Ingest(label, batch, total, elapsed, errors)


def _threads(target: Target, args: argparse.Namespace, batch: int, label: str) -> Ingest:
    """Without wrk: Python client threads (they compete with the server for the CPU)."""
    stop_at = time.monotonic() + args.ingest_seconds
    counts = [0] * args.ingest_clients
    errors = [0] * args.ingest_clients
    headers = {"Authorization": f"Bearer {target.key}"}

    def client(index: int) -> None:
        session = requests.Session()
        n = 0
        while time.monotonic() < stop_at and n < 200_000:
            calls = [{"to": f"+98912{index:03d}1{(n + i) % 1000:03d}"} for i in range(batch)]
            n += batch
            try:
                session.post(f"{target.base}/v1/calls", json=calls if batch > 1 else calls[0],
                             headers=headers, timeout=30).raise_for_status()
                counts[index] += 1
            except requests.RequestException:
                errors[index] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.ingest_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.ingest_seconds + 60)
    return Ingest(label, batch, sum(counts) + sum(errors), time.monotonic() - start,
                  sum(errors))


@contextmanager
def hello_world(logdir: Path) -> Iterator[Target]:
    """The calibration app under the same gunicorn settings as the API."""
    port = free_port()
    log = open(logdir / "hello.log", "ab")  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--chdir",
         str(Path(__file__).parent), "--workers", os.environ.get("WEB_CONCURRENCY", "4"),
         "--log-level", "warning", "hello_app:app"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, logdir)
        yield Target(base, "none", logdir, {"web": [proc.pid]})
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(20)
        log.close()


def run_ingest(svc: Services, args: argparse.Namespace,
               phase: Callable[..., AbstractContextManager[Stack]]) -> list[Ingest]:
    """``phase`` is capacity_bench's: one trunk's web process on a fresh database."""
    sim = PBXSimulator(SimConfig(users={"dispatcher": "bench"}))
    sim.start()
    results = []
    try:
        with hello_world(svc.logdir) as hello:
            results.append(drive(hello, args, 1, "calibration: hello-world Flask"))
        for batch in (1, args.ingest_batch):
            with phase(svc, sim, f"ingest{batch}", {"DISPATCHER_TRUNK_LINES": "30"},
                       workers=False) as stack:
                results.append(drive(_target(svc, stack), args, batch, "API"))
        return results
    finally:
        sim.stop()


def _target(svc: Services, stack: Stack) -> Target:
    roots = {"web": stack.roots()["web"], "postgres": [svc.postgres_pid],
             "redis": [svc.redis_pid]}
    return Target(stack.base, stack.key, stack.logdir, roots)


def report(results: list[Ingest]) -> None:
    for ingest in results:
        shape = ("one call per request" if ingest.batch == 1 else
                 f"batches of {ingest.batch} (a JSON array)")
        cpu = ", ".join(f"{kind} {ms:.2f}" for kind, ms in ingest.cpu_ms_per_request().items())
        print(f"  {ingest.label}, {shape}: {ingest.calls_per_second:.0f} calls/s "
              f"({ingest.requests} requests in {ingest.seconds:.1f} s, {ingest.errors} errors); "
              f"CPU per request: {cpu} ms")
