"""Capacity and ingest benchmark: how close to the physical line limit does the dispatcher run?

Starts real servers (embedded PostgreSQL and Redis), the simulated PBX as a 30-line trunk in
this process, and gunicorn, a Celery worker and the event consumer as real processes, then runs:

1. capacity on: N answered calls of a fixed length: makespan against the ideal, line use, the
   most simultaneous calls the PBX saw, API-accepted -> Originate-on-the-wire latency, peak RSS;
2. capacity off (naive): the same calls published at once, showing the congestion it causes;
3. free-line latency: calls submitted one by one while lines are free;
4. API ingest: POST /v1/calls accepted per second from concurrent clients (no workers running),
   one call per request and in batches (a JSON array);
5. contact upload: 100,000 CSV rows into a campaign in one request (server-side seconds as the
   API reports them, and wall time), then the same file through ``dispatcher campaign upload``.

Loopback only; every loop is bounded in count and time. Prints figures; asserts nothing.
Run with ``make bench`` (or ``.venv/bin/python bench/capacity_bench.py --help``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from bench_stack import BIN, Dialer, Services, Stack, running, services, submit_all
from ingest_run import report, run_ingest
from line_figures import line_idle, peak_rss_mb, percentile, steady_line_use

from pbxsim import PBXSimulator, SimConfig

WARM_UP_CALLS = 20


@contextmanager
def phase(svc: Services, sim: PBXSimulator, name: str, env: dict[str, str], *,
          workers: bool = True, concurrency: int = 4) -> Iterator[Stack]:
    """One trunk on ``sim``, configured the flat way (no ``DISPATCHER_TRUNKS``)."""
    queue = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    env = {"DISPATCHER_AMI_PORT": str(sim.port), "DISPATCHER_QUEUE_NAME": queue,
           "DISPATCHER_TRUNK_NAME": f"trunk-{queue}", **env}
    dialers = [Dialer("", queue, sim.port)] if workers else []
    with running(svc, name, env, dialers, concurrency) as stack:
        yield stack


def originate_latencies(stack: Stack, sim: PBXSimulator,
                        only: set[str] | None = None) -> list[float]:
    """Seconds from the API accepting a call to its Originate arriving at the PBX."""
    sent = {a.get("ChannelId"): float(a["_time"]) for a in sim.actions
            if a.get("Action") == "Originate"}
    return [sent[str(r.attempt_id)] - r.created_at.timestamp() for r in stack.rows()
            if r.attempt_id and str(r.attempt_id) in sent
            and (only is None or str(r.id) in only)]


def answered_numbers(count: int, offset: int) -> list[str]:
    return [f"+98912{(offset + i) % 1000:03d}1{i % 1000:03d}" for i in range(count)]


def run_capacity(svc: Services, args: argparse.Namespace, capacity: str) -> dict[str, object]:
    sim = PBXSimulator(SimConfig(users={"dispatcher": "bench"}, lines=args.lines,
                                 ring_delay=0.01, answer_delay=0.05, talk_time=args.call_length,
                                 cdr_events=False, cel_events=False))
    sim.start()
    try:
        with phase(svc, sim, capacity, {"DISPATCHER_CAPACITY": capacity,
                                        "DISPATCHER_TRUNK_LINES": str(args.lines)},
                   concurrency=args.worker_concurrency) as stack:
            start = time.time()
            submit = submit_all(stack, [{"to": n} for n in answered_numbers(args.calls, 0)])
            rows = stack.wait_final(args.calls, deadline=args.calls * args.call_length + 300)
            ended = max(r.ended_at.timestamp() for r in rows if r.ended_at)
            makespan = ended - start
            on_line = [(r.ended_at - r.dialed_at).total_seconds() for r in rows
                       if r.ended_at and r.dialed_at and r.outcome == "answered"]
            busy_seconds = sum(on_line)
            latencies = originate_latencies(stack, sim)
            steady = steady_line_use(rows, args.lines)
            idle = line_idle(rows, args.lines, start)
            outcomes: dict[str, int] = {}
            for row in rows:
                outcomes[row.outcome or row.status] = outcomes.get(row.outcome or row.status,
                                                                   0) + 1
            return {
                "submit_seconds": submit, "makespan": makespan,
                "ideal": args.calls * args.call_length / args.lines,
                # A call holds its line while it rings and is answered too (60 ms here): the
                # makespan with every line busy from the start to the end of the run.
                "line_ideal": busy_seconds / args.lines,
                "per_call": busy_seconds / max(1, len(on_line)),
                "line_use": busy_seconds / (args.lines * makespan),
                "steady_line_use": steady, "idle": idle,
                "max_simultaneous": sim.max_live_channels, "outcomes": outcomes,
                "latency": latencies, "rss": stack.rss(),
                # Its own only: the embedded PostgreSQL and Redis are its children too.
                "bench_rss": peak_rss_mb(os.getpid(), descendants=False),
            }
    finally:
        sim.stop()


def run_free_line_latency(svc: Services, args: argparse.Namespace) -> list[float]:
    sim = PBXSimulator(SimConfig(users={"dispatcher": "bench"}, lines=args.lines,
                                 ring_delay=0.01, answer_delay=0.05, talk_time=0.5,
                                 cdr_events=False, cel_events=False))
    sim.start()
    try:
        with phase(svc, sim, "latency", {"DISPATCHER_TRUNK_LINES": str(args.lines)}) as stack:
            session = requests.Session()
            # Steady state: the first calls of each web and worker process also pay for
            # opening connections and filling statement caches; they are not measured.
            warm = WARM_UP_CALLS
            for number in answered_numbers(warm, 900):
                stack.post(session, number)
                time.sleep(0.05)
            measured = set()
            for number in answered_numbers(args.latency_calls, 500):
                measured.add(stack.post(session, number))
                time.sleep(0.1)  # ~5 calls live at a time: a line is always free
            stack.wait_final(warm + args.latency_calls, deadline=60)
            return originate_latencies(stack, sim, measured)
    finally:
        sim.stop()


def contacts_csv(rows: int) -> bytes:
    """``rows`` contacts with two variables; one row in a hundred is not a phone number."""
    lines = ["to,name,code"]
    for i in range(rows):
        to = "12" if i % 100 == 99 else f"0912{i:07d}"
        lines.append(f"{to},Customer {i},A-{i % 977}")
    return ("\n".join(lines) + "\n").encode()


def campaign_read_latency(stack: Stack, cid: str, auth: dict[str, str],
                          rounds: int = 30) -> dict[str, list[float]]:
    """Seconds per GET of the campaign, and of the campaign list, with its contacts loaded."""
    session = requests.Session()
    timings: dict[str, list[float]] = {"one": [], "list": []}
    for _ in range(rounds):
        for key, path in (("one", f"/v1/campaigns/{cid}"), ("list", "/v1/campaigns")):
            start = time.monotonic()
            session.get(f"{stack.base}{path}", headers=auth, timeout=60).raise_for_status()
            timings[key].append(time.monotonic() - start)
    return timings


def run_upload(svc: Services, sim: PBXSimulator, args: argparse.Namespace) -> dict[str, object]:
    body = contacts_csv(args.upload_rows)
    result: dict[str, object] = {"bytes": len(body)}
    with phase(svc, sim, "upload", {}, workers=False) as stack:
        auth = {"Authorization": f"Bearer {stack.key}"}
        for label in ("single", "cli"):
            created = requests.post(f"{stack.base}/v1/campaigns", json={"name": label},
                                    headers=auth, timeout=30)
            created.raise_for_status()
            cid = created.json()["id"]
            start = time.monotonic()
            if label == "single":
                answer = requests.post(f"{stack.base}/v1/campaigns/{cid}/contacts", data=body,
                                       headers={**auth, "Content-Type": "text/csv"},
                                       timeout=300)
                answer.raise_for_status()
                result["single"] = (answer.json(), time.monotonic() - start)
                result["reads"] = campaign_read_latency(stack, cid, auth)
            else:
                path = svc.logdir / "contacts.csv"
                path.write_bytes(body)
                done = subprocess.run(
                    [str(BIN / "dispatcher"), "campaign", "upload", cid, str(path)],
                    env={**stack.env, "DISPATCHER_API_URL": stack.base,
                         "DISPATCHER_API_KEY": stack.key},
                    capture_output=True, text=True, timeout=600, check=False)
                if done.returncode != 0:
                    raise SystemExit(f"dispatcher campaign upload failed: {done.stderr}")
                result["cli"] = time.monotonic() - start
        result["rss"] = stack.rss()
    return result


def report_latency(label: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(f"  {label}: n={len(ms)} p50={percentile(ms, 50):.1f} ms "
          f"p95={percentile(ms, 95):.1f} ms p99={percentile(ms, 99):.1f} ms "
          f"max={max(ms, default=float('nan')):.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--call-length", type=float, default=2.0)
    parser.add_argument("--latency-calls", type=int, default=100)
    parser.add_argument("--worker-concurrency", type=int, default=4,
                        help="Celery pool processes in the capacity runs")
    parser.add_argument("--ingest-seconds", type=float, default=30.0)
    parser.add_argument("--ingest-clients", type=int, default=16)
    parser.add_argument("--ingest-batch", type=int, default=100,
                        help="calls per request in the batch half of the ingest run")
    parser.add_argument("--upload-rows", type=int, default=100_000)
    parser.add_argument("--skip", action="append", default=[],
                        choices=["capacity", "naive", "latency", "ingest", "upload"])
    args = parser.parse_args(argv)

    with services("dispatcher-bench-") as svc:
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
              f"logs in {svc.logdir}")
        if "capacity" not in args.skip:
            result = run_capacity(svc, args, "on")
            print(f"\ncapacity control ON: {args.calls} calls x {args.call_length:g} s "
                  f"on {args.lines} lines")
            print(f"  makespan {result['makespan']:.1f} s vs ideal {result['line_ideal']:.1f} s "
                  f"({args.calls} calls x {result['per_call']:.2f} s on a line, ringing "
                  f"included, / {args.lines}; {result['ideal']:.1f} s for the answered "
                  f"{args.call_length:g} s alone)")
            print(f"  line use {100 * result['line_use']:.1f}% (ideal / makespan); while calls "
                  f"were waiting {100 * result['steady_line_use']:.1f}%")  # type: ignore[operator]
            print(f"  {result['idle'].report()}")  # type: ignore[attr-defined]
            print(f"  most simultaneous calls at the PBX: {result['max_simultaneous']}")
            print(f"  outcomes: {result['outcomes']}")
            report_latency("accepted -> Originate (incl. waiting for a line)",
                           result["latency"])  # type: ignore[arg-type]
            rss = ", ".join(f"{k} {v:.0f} MB" for k, v in result["rss"].items())  # type: ignore[attr-defined]
            print(f"  peak RSS: {rss}; bench+simulator {result['bench_rss']:.0f} MB")
        if "naive" not in args.skip:
            naive = run_capacity(svc, args, "off")
            print("\ncapacity control OFF (naive): same calls, published at once")
            print(f"  makespan {naive['makespan']:.1f} s; most simultaneous at the PBX "
                  f"{naive['max_simultaneous']}; outcomes {naive['outcomes']}")
        if "latency" not in args.skip:
            print(f"\nfree-line latency (one call every 100 ms, lines always free; after "
                  f"{WARM_UP_CALLS} warm-up calls)")
            report_latency("accepted -> Originate", run_free_line_latency(svc, args))
        if "ingest" not in args.skip:
            client = "wrk" if shutil.which("wrk") else "Python threads (apt-get install wrk)"
            print(f"\nAPI ingest: POST /v1/calls for {args.ingest_seconds:g} s from "
                  f"{args.ingest_clients} connections via {client}, gunicorn "
                  f"workers={os.environ.get('WEB_CONCURRENCY', '4')}")
            report(run_ingest(svc, args, phase))
        if "upload" not in args.skip:
            sim = PBXSimulator(SimConfig(users={"dispatcher": "bench"})).start()
            try:
                upload = run_upload(svc, sim, args)
            finally:
                sim.stop()
            answer, wall = upload["single"]  # type: ignore[misc]
            print(f"\ncontact upload: {args.upload_rows} CSV rows "
                  f"({upload['bytes'] / 1e6:.1f} MB) in one request")
            print(f"  server {answer['seconds']:.2f} s, wall {wall:.2f} s "
                  f"({args.upload_rows / wall:.0f} rows/s): {answer['accepted']} accepted, "
                  f"{answer['duplicates']} duplicates, {answer['rejected']} rejected")
            for key, label in (("one", "GET /v1/campaigns/{id}"), ("list", "GET /v1/campaigns")):
                report_latency(f"{label} with those contacts loaded",
                               upload["reads"][key])  # type: ignore[index]
            print(f"  dispatcher campaign upload (chunks of 5000, progress, resumable): "
                  f"{upload['cli']:.2f} s wall; web peak RSS "
                  f"{upload['rss']['web']:.0f} MB")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
