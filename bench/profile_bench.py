"""A realistic call mix on one trunk: do the lines stay full, and how many calls an hour is that?

The stress run's calls are all answered and all 2 s long, so line turnover dominates; real
calls ring 3-20 s, about half are answered and talk 10-120 s, the rest stop ringing unanswered.
Each call's ring time, answer and talk time are drawn from a seeded generator and handed to the
simulated PBX by number (:class:`pbxsim.CallShape`). Enough calls are queued at the start that
the lines never run dry; after ``--seconds`` (default 600) the run is cut and measured:

- line use over the window: the calls' line time (dial -> end, cut at the window's end) /
  (lines x window), and from the moment all lines were first busy;
- calls per hour (dialled and completed in the window) against the ideal for this mix: with
  every line always busy, lines x 3600 / the mean line-holding time per call (ring + talk if
  answered, ring alone if not), from the distribution and from the calls actually drawn;
- line turnover p50/p95 and CPU per completed call, as the other benchmarks measure them.

Loopback only; every wait is bounded. Prints figures; asserts nothing.
``.venv/bin/python bench/profile_bench.py --minutes 2`` for a quick check.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from dataclasses import dataclass

from bench_stack import Dialer, running, services, submit_all
from line_figures import idle_of, load_average, machine, percentile, tree_cpu_seconds
from sim_process import SimProcess

from dispatcher.adapters.db.tables import CallRow
from pbxsim import CallShape, SimConfig


@dataclass(frozen=True)
class Profile:
    ring: tuple[float, float] = (3.0, 20.0)  # uniform, seconds: until answer or giving up
    answer_rate: float = 0.5
    talk: tuple[float, float] = (10.0, 120.0)  # uniform, seconds, answered calls only

    def mean_holding(self) -> float:
        """Expected line-holding seconds per call: E[ring] + P(answer) x E[talk]."""
        return sum(self.ring) / 2 + self.answer_rate * sum(self.talk) / 2

    def draw(self, rng: random.Random) -> CallShape:
        ring = rng.uniform(*self.ring)
        if rng.random() < self.answer_rate:
            return CallShape("answer", ring_time=ring, talk_time=rng.uniform(*self.talk))
        return CallShape("no-answer", ring_time=ring)


def holding(shape: CallShape) -> float:
    return (shape.ring_time or 0.0) + (shape.talk_time or 0.0)


def plan(profile: Profile, seed: int, lines: int, seconds: float) -> dict[str, CallShape]:
    """Calls in submission order, enough to keep every line busy past the window's end, by
    the number the PBX is asked to dial (national format, from the dial template)."""
    rng = random.Random(seed)
    shapes: dict[str, CallShape] = {}
    need = lines * (seconds * 1.2 + profile.ring[1] + profile.talk[1])
    total = 0.0
    while total < need and len(shapes) < 1_000_000:
        i = len(shapes)
        shapes[f"0912{i // 1000:03d}1{i % 1000:03d}"] = shape = profile.draw(rng)
        total += holding(shape)
    return shapes


def e164(national: str) -> str:
    return "+98" + national[1:]


def per_hour(lines: int, mean: float) -> float:
    return lines * 3600 / mean


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the window")
    parser.add_argument("--minutes", type=float, default=None, help="the same, in minutes")
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    seconds = args.minutes * 60 if args.minutes is not None else args.seconds
    profile = Profile()
    shapes = plan(profile, args.seed, args.lines, seconds)
    numbers = list(shapes)
    with services("dispatcher-profile-") as svc:
        print(f"{machine()}; logs in {svc.logdir}")
        print(f"\nrealistic profile on {args.lines} lines for {seconds:g} s: ring "
              f"{profile.ring[0]:g}-{profile.ring[1]:g} s, {100 * profile.answer_rate:g}% "
              f"answered, talk {profile.talk[0]:g}-{profile.talk[1]:g} s (uniform, seed "
              f"{args.seed}); {len(numbers)} calls queued at the start")
        sim = SimProcess(SimConfig(users={"dispatcher": "bench"}, lines=args.lines,
                                   ring_delay=0.01, cdr_events=False, cel_events=False,
                                   call_shape=shapes.get))
        queue = f"bench-profile-{uuid.uuid4().hex[:6]}"
        env = {"DISPATCHER_AMI_PORT": str(sim.port), "DISPATCHER_QUEUE_NAME": queue,
               "DISPATCHER_TRUNK_NAME": "carrier-trunk",
               "DISPATCHER_TRUNK_LINES": str(args.lines)}
        try:
            with running(svc, "profile", env, [Dialer("", queue, sim.port)],
                         args.worker_concurrency) as stack:
                roots = {**stack.roots(), "simulator": [sim.pid],
                         "postgres": [svc.postgres_pid], "redis": [svc.redis_pid]}
                before = tree_cpu_seconds(roots)
                start = time.time()
                submit = submit_all(stack, [{"to": e164(n)} for n in numbers])
                end = start + seconds
                while time.time() < end:
                    time.sleep(min(5.0, max(0.0, end - time.time())))
                after = tree_cpu_seconds(roots)
                time.sleep(2.0)  # ends at the window's edge reach the database
                rows = stack.rows()
        finally:
            stats = sim.stop()
    report(rows, shapes, profile, args.lines, start, end, submit)
    calls = sum(1 for r in rows if r.ended_at and r.ended_at.timestamp() <= end)
    print("  CPU per completed call: " + ", ".join(
        f"{kind} {1000 * (after[kind] - before[kind]) / max(1, calls):.1f} ms"
        for kind in before) + f"; most simultaneous at the PBX {stats.get('max_simultaneous')}")
    print(f"  {load_average()}")
    return 0


def report(rows: list[CallRow], shapes: dict[str, CallShape], profile: Profile, lines: int,
           start: float, end: float, submit: float) -> None:
    """The window's figures; calls still on the line at its end count up to the end."""
    seconds = end - start
    dialled = [r for r in rows if r.dialed_at and r.dialed_at.timestamp() <= end]
    spans = [(r.dialed_at.timestamp(),
              min(r.ended_at.timestamp() if r.ended_at else end, end)) for r in dialled]
    done = [r for r in dialled if r.ended_at and r.ended_at.timestamp() <= end]
    busy = sum(e - d for d, e in spans)
    first_full = sorted(d for d, _ in spans)[lines - 1] if len(spans) >= lines else end
    steady = sum(max(0.0, e - max(d, first_full)) for d, e in spans)
    shape_of = {e164(n): shape for n, shape in shapes.items()}
    drawn = [shape_of[r.to_number] for r in dialled if r.to_number in shape_of]
    drawn_mean = sum(map(holding, drawn)) / max(1, len(drawn))
    measured = [(r.ended_at - r.dialed_at).total_seconds() for r in done]
    planned = [holding(shape_of[r.to_number]) for r in done if r.to_number in shape_of]
    outcomes: dict[str, int] = {}
    for row in done:
        outcomes[row.outcome or row.status] = outcomes.get(row.outcome or row.status, 0) + 1
    gaps = [1000 * g for g in idle_of(spans, lines, start).turnovers]
    print(f"  queued in {submit:.2f} s; {len(dialled)} calls dialled and {len(done)} completed "
          f"in the window: {outcomes}")
    print(f"  line use {100 * busy / (lines * seconds):.1f}% over the window; "
          f"{100 * steady / (lines * max(1e-9, end - first_full)):.1f}% from all lines first "
          f"busy ({first_full - start:.2f} s in) to the end")
    print(f"  mean line-holding per call: {profile.mean_holding():.2f} s expected from the "
          f"distribution, {drawn_mean:.2f} s for the calls drawn and dialled; completed calls "
          f"held {sum(measured) / max(1, len(measured)):.2f} s measured (dial -> end) against "
          f"{sum(planned) / max(1, len(planned)):.2f} s planned")
    print(f"  calls per hour: {len(dialled) * 3600 / seconds:.0f} dialled, "
          f"{len(done) * 3600 / seconds:.0f} completed in the window (the calls on the lines "
          f"at its start and end count in one of them only), "
          f"{(len(dialled) + len(done)) * 1800 / seconds:.0f} their mean; ideal "
          f"{per_hour(lines, profile.mean_holding()):.0f} (distribution), "
          f"{per_hour(lines, drawn_mean):.0f} (calls drawn)")
    print(f"  turnover p50 {percentile(gaps, 50):.0f} ms, p95 {percentile(gaps, 95):.0f} ms "
          f"(n={len(gaps)})")


if __name__ == "__main__":
    raise SystemExit(main())
