"""Several PBXs on one web, Redis and PostgreSQL: does line use hold, and what does a call cost?

Starts embedded PostgreSQL and Redis, then for each run N simulated PBXs of ``--lines`` lines
(each in a process of its own, as each PBX is its own machine), one gunicorn, and per PBX one
Celery worker on that PBX's queue and one event consumer on its AMI (``docs/deployment.md``),
the trunks configured through ``DISPATCHER_TRUNKS`` and chosen by number prefix. Every call is
answered and lasts ``--call-length`` seconds, as in the capacity benchmark's stress run.

Prints, for a one-trunk run and then the several-PBX run: per trunk and overall, line use (the
calls' line time / (lines x makespan)), the makespan against the ideal ceil(calls / lines) x
length, line turnover (a call's end -> the next dial on its line, as the capacity benchmark
defines it) p50/p95, and CPU seconds per call of each kind of process, read from /proc over
whole process trees before and after the run. Loopback only; every wait is bounded. Prints
figures; asserts nothing. ``.venv/bin/python bench/multi_pbx_bench.py --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import uuid
from dataclasses import dataclass, field

from bench_stack import Dialer, Services, running, services, submit_all
from line_figures import (
    LineIdle,
    line_idle,
    load_average,
    machine,
    machine_cpu,
    percentile,
    tree_cpu_seconds,
)
from sim_process import SimProcess

from dispatcher.adapters.db.tables import CallRow
from pbxsim import SimConfig

PREFIXES = tuple(f"+9891{digit}" for digit in "23456789")  # mobile ranges: one per trunk
KINDS = ("web", "worker", "events", "simulator", "postgres", "redis")


@dataclass
class Trunk:
    name: str
    prefix: str
    queue: str
    sim: SimProcess
    rows: list[CallRow] = field(default_factory=list)
    max_simultaneous: int = 0


@dataclass
class Figures:
    """One trunk's, or all trunks' together."""

    calls: int
    lines: int
    makespan: float
    busy: float  # the calls' line time: dial -> end, summed
    ideal: float  # ceil(calls / lines) x call length
    idle: LineIdle
    outcomes: dict[str, int]

    @property
    def line_use(self) -> float:
        return self.busy / (self.lines * self.makespan)

    def report(self, label: str) -> str:
        gaps = [1000 * g for g in self.idle.turnovers]
        return (f"  {label:<8} {self.calls:5d} calls on {self.lines:3d} lines: makespan "
                f"{self.makespan:6.1f} s, ideal {self.ideal:5.1f} s = "
                f"{100 * self.ideal / self.makespan:5.1f}% of ideal; line use "
                f"{100 * self.line_use:5.1f}%; turnover p50 {percentile(gaps, 50):3.0f} ms, "
                f"p95 {percentile(gaps, 95):3.0f} ms (n={len(gaps)}); {self.outcomes}")


def figures(rows: list[CallRow], lines: int, start: float, call_length: float) -> Figures:
    ended = [r.ended_at.timestamp() for r in rows if r.ended_at]
    busy = sum((r.ended_at - r.dialed_at).total_seconds() for r in rows
               if r.ended_at and r.dialed_at)
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row.outcome or row.status] = outcomes.get(row.outcome or row.status, 0) + 1
    return Figures(len(rows), lines, max(ended, default=start) - start, busy,
                   math.ceil(len(rows) / lines) * call_length, line_idle(rows, lines, start),
                   outcomes)


def answered_numbers(prefix: str, count: int) -> list[str]:
    """Unique numbers whose last four digits start with 1: the simulator answers them."""
    return [f"{prefix}{i // 1000 % 1000:03d}1{i % 1000:03d}" for i in range(count)]


def trunks_setting(trunks: list[Trunk], lines: int) -> str:
    return json.dumps([{"name": t.name, "lines": lines, "ami_host": "127.0.0.1",
                        "ami_port": t.sim.port, "queue": t.queue, "prefixes": [t.prefix]}
                       for t in trunks])


@dataclass
class Run:
    trunks: list[Trunk]
    per_trunk: list[Figures]
    overall: Figures
    cpu: dict[str, float]  # CPU seconds over the run, by kind of process
    at_rest: dict[str, float]  # CPU seconds per second before the first call, by kind
    machine: tuple[float, float]  # the whole machine's busy and total CPU seconds, the same
    submit_seconds: float
    rss: dict[str, float]


def run(svc: Services, args: argparse.Namespace, count: int) -> Run:
    tag = uuid.uuid4().hex[:6]
    trunks: list[Trunk] = []
    try:
        for index in range(count):
            sim = SimProcess(SimConfig(users={"dispatcher": "bench"}, lines=args.lines,
                                       ring_delay=0.01, answer_delay=0.05,
                                       talk_time=args.call_length, cdr_events=False,
                                       cel_events=False))
            letter = "abcdefgh"[index]
            trunks.append(Trunk(f"e1-{letter}", PREFIXES[index], f"pbx-{letter}-{tag}", sim))
        env = {"DISPATCHER_TRUNKS": trunks_setting(trunks, args.lines),
               "DISPATCHER_QUEUE_NAME": trunks[0].queue,
               "DISPATCHER_AMI_PORT": str(trunks[0].sim.port)}
        dialers = [Dialer(t.name[-1], t.queue, t.sim.port) for t in trunks]
        # One bulk script's batches, each with calls for every trunk.
        numbers = [answered_numbers(t.prefix, args.calls_per_trunk) for t in trunks]
        calls = [{"to": n[i]} for i in range(args.calls_per_trunk) for n in numbers]
        with running(svc, f"pbx{count}", env, dialers, args.worker_concurrency) as stack:
            roots = {**stack.roots(), "simulator": [t.sim.pid for t in trunks],
                     "postgres": [svc.postgres_pid], "redis": [svc.redis_pid]}
            rest = tree_cpu_seconds(roots)  # what the processes cost with no calls at all
            time.sleep(args.rest_seconds)
            before, machine_before = tree_cpu_seconds(roots), machine_cpu()
            at_rest = {k: (before[k] - rest[k]) / args.rest_seconds for k in rest}
            start = time.time()
            submit = submit_all(stack, calls)
            rows = stack.wait_final(len(calls),
                                    deadline=args.calls_per_trunk * args.call_length + 300)
            after, machine_after = tree_cpu_seconds(roots), machine_cpu()
            rss = stack.rss()
    finally:
        for trunk in trunks:
            trunk.max_simultaneous = trunk.sim.stop().get("max_simultaneous", -1)
    per_trunk = [figures([r for r in rows if r.trunk == t.name], args.lines, start,
                         args.call_length) for t in trunks]
    overall = figures(rows, args.lines * count, start, args.call_length)
    # A turnover is a line's: pooled from each trunk's own lines, not across trunks.
    overall.idle.turnovers = [g for f in per_trunk for g in f.idle.turnovers]
    machine = (machine_after[0] - machine_before[0], machine_after[1] - machine_before[1])
    return Run(trunks, per_trunk, overall, {k: after[k] - before[k] for k in before}, at_rest,
               machine, submit, rss)


def report(result: Run) -> None:
    for trunk, own in zip(result.trunks, result.per_trunk, strict=True):
        print(own.report(trunk.name))
        print(f"{'':11}{own.idle.report()}")
    if len(result.trunks) > 1:
        print(result.overall.report("overall"))
    calls = result.overall.calls
    print(f"  submitted in {result.submit_seconds:.2f} s (batches of 100); most simultaneous "
          f"calls per PBX: {[t.max_simultaneous for t in result.trunks]}")
    print("  CPU per call: " + ", ".join(
        f"{kind} {1000 * result.cpu[kind] / calls:.2f} ms" for kind in KINDS) +
        f"; all {1000 * sum(result.cpu.values()) / calls:.2f} ms "
        f"({sum(result.cpu.values()):.1f} CPU s over the run)")
    makespan = result.overall.makespan
    print("  of which at rest (CPU per second with no calls, times the makespan, per call): " +
          ", ".join(f"{kind} {1000 * result.at_rest[kind] * makespan / calls:.2f} ms"
                    for kind in KINDS))
    busy, total = result.machine
    print(f"  the machine's cores were {100 * busy / total:.0f}% busy over the run, "
          f"{100 * sum(result.cpu.values()) / total:.0f}% of them with the processes above "
          f"(the rest: the benchmark itself, and anything else running)")
    print("  peak RSS: " + ", ".join(f"{k} {v:.0f} MB" for k, v in result.rss.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pbxs", type=int, default=4, choices=range(2, len(PREFIXES) + 1))
    parser.add_argument("--calls-per-trunk", type=int, default=600)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--call-length", type=float, default=2.0)
    parser.add_argument("--worker-concurrency", type=int, default=4,
                        help="Celery pool processes per worker")
    parser.add_argument("--skip-one-trunk", action="store_true")
    parser.add_argument("--rest-seconds", type=float, default=10.0,
                        help="how long the processes' CPU at rest is read before the calls")
    args = parser.parse_args(argv)
    with services("dispatcher-multipbx-") as svc:
        print(f"{machine()}; logs in {svc.logdir}")
        for count in ([] if args.skip_one_trunk else [1]) + [args.pbxs]:
            print(f"\n{count} PBX(s) x {args.lines} lines, {args.calls_per_trunk} answered calls "
                  f"x {args.call_length:g} s per trunk; one web, one Redis, one PostgreSQL; "
                  f"per PBX one worker ({args.worker_concurrency} processes) and one consumer")
            report(run(svc, args, count))
            print(f"  {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
