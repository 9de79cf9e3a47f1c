"""Storage benchmark: what a finished call costs in PostgreSQL, and what retention gives back.

Runs the real processes against the simulated PBX sending what the rendered Asterisk sends the
consumer (call events and Cdr, no CEL), places calls with the simulator's seeded mix of
outcomes, then measures the bytes of ``calls``, ``call_events`` and ``callback_deliveries``
(tables, indexes and TOAST) per finished call against the empty schema, and the event log's
size before and after the retention purge (and a plain VACUUM, as autovacuum would run).

Loopback only; every loop is bounded. Prints figures; asserts nothing.
Run with ``make bench`` or ``.venv/bin/python bench/storage_bench.py --calls 300``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark's helpers

from capacity_bench import Services, phase, submit_all  # noqa: E402

from dispatcher.devstack.embedded import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from dispatcher.usecases.retention import RetentionPolicy, purge  # noqa: E402
from pbxsim import PBXSimulator, SimConfig  # noqa: E402

TABLES = ("calls", "call_events", "callback_deliveries")


def sizes(url: str) -> dict[str, int]:
    engine = create_engine(url.replace("postgres://", "postgresql://", 1))
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(text("SELECT pg_total_relation_size(:t)"),
                                        {"t": t}).scalar() or 0) for t in TABLES}
    finally:
        engine.dispose()


def count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def vacuum(url: str, table: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"VACUUM {table}"))
    finally:
        engine.dispose()


def mixed_numbers(calls: int) -> list[str]:
    """Numbers whose last four digits start with 0: the simulator's seeded mix of outcomes."""
    return [f"+98912{i % 1000:03d}0{i % 1000:03d}" for i in range(calls)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--lines", type=int, default=30)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="dispatcher-storage-bench-"))
    postgres = EmbeddedPostgres(root, database="bench")
    postgres.start()
    redis = EmbeddedRedis(root)
    svc = Services(postgres, redis.start(), root)
    sim = PBXSimulator(SimConfig(users={"dispatcher": "bench"}, lines=args.lines,
                                 ring_delay=0.2, answer_delay=0.4, talk_time=1.0,
                                 cel_events=False)).start()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; logs in {root}")
    try:
        with phase(svc, sim, "storage", {"DISPATCHER_TRUNK_LINES": str(args.lines)}) as stack:
            url = stack.database_url
            empty = sizes(url)
            submit_all(stack, [{"to": n} for n in mixed_numbers(args.calls)])
            rows = stack.wait_final(args.calls, deadline=args.calls * 3 + 300)
            time.sleep(3.0)  # the Cdr event follows the hangup
            full = sizes(url)
            events = count(url, "SELECT count(*) FROM call_events")
            outcomes: dict[str, int] = {}
            for row in rows:
                key = row.outcome or row.status
                outcomes[key] = outcomes.get(key, 0) + 1
            print(f"\nstorage: {len(rows)} finished calls ({outcomes}); "
                  f"{events / len(rows):.1f} event rows per call")
            total = 0
            for table in TABLES:
                grown = full[table] - empty[table]
                total += grown
                print(f"  {table:<20} {grown / len(rows):8.0f} bytes per call "
                      f"(tables, indexes, TOAST; {full[table] / 1e6:.2f} MB in all)")
            print(f"  {'in all':<20} {total / len(rows):8.0f} bytes per call")
            per_call = total / len(rows)
            log_per_call = (full["call_events"] - empty["call_events"]) / len(rows)
            day = 30 * 24 * 60  # calls a day on 30 lines of one-minute calls, all day long
            year = (365 * (per_call - log_per_call) + 30 * log_per_call) * day
            print(f"  30 lines of one-minute calls all day ({day} calls): "
                  f"{day * per_call / 1e9:.2f} GB/day; a year of calls with the event log "
                  f"kept 30 days: {year / 1e9:.1f} GB")
            before = full["call_events"]
            policy = RetentionPolicy(event_days=1, batch=1000, max_batches=1000)
            started = time.monotonic()
            purged = purge(stack.sessions, policy, datetime.now(tz=UTC) + timedelta(days=2))
            took = time.monotonic() - started
            vacuum(url, "call_events")
            after = sizes(url)["call_events"]
            print(f"  retention purge: {purged.events} event rows in {took:.2f} s; "
                  f"call_events {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB after VACUUM")
    finally:
        sim.stop()
        redis.stop()
        postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
