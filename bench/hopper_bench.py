"""Hopper benchmark: the hopper's time per dialled contact, with 1,000 and with 1,000,000
contacts pending in the campaign. The work per dialled contact should not grow with the
campaign: every query the hopper runs walks one end of an index.

In one process against an embedded PostgreSQL: a campaign on a 30-line trunk, its contacts
uploaded through the same use case as the API's, then rounds of "the hopper feeds the free
lines; those calls end answered" (the ending is one UPDATE, as the event consumer would
write it). Only the hopper's passes are timed. Then the read side: a campaign with
``--read-calls`` finished calls (a long campaign's attempts), and what reading it back costs
(``GET /v1/campaigns/{id}``'s use case, in process, and its call counts alone). Loopback only;
bounded. Prints figures.
Run with ``make bench`` or ``.venv/bin/python bench/hopper_bench.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, text, update

from dispatcher.adapters.db.campaigns import CampaignRepository
from dispatcher.adapters.db.engine import Sessions, make_engine, make_session_factory
from dispatcher.adapters.db.migrate import upgrade
from dispatcher.adapters.db.tables import CallRow
from dispatcher.config import Settings
from dispatcher.devstack.embedded import EmbeddedPostgres
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import TrunkTable, load_trunks
from dispatcher.usecases import campaigns, contact_upload
from dispatcher.usecases.hopper import Hopper
from web.models.campaigns import campaign_spec
from web.models.rules import ApiContext


def contact_lines(rows: int) -> list[str]:
    return ["to\n", *(f"0912{i:07d}\n" for i in range(rows))]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def new_campaign(postgres: EmbeddedPostgres,
                 database: str) -> tuple[Sessions, TrunkTable, uuid.UUID]:
    """A fresh, migrated database with one draft campaign of 30 lines on the default trunk."""
    postgres.create_database(database)
    url = postgres.url_for(database)
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    trunks = load_trunks(Settings(database_url=url, ami_port=1, ami_secret="bench",
                                  trunk_lines=30))
    spec = campaign_spec({"name": database, "max_lines": 30},
                         ApiContext(NumberPolicy(), trunks))
    return sessions, trunks, campaigns.create_campaign(sessions, spec, None).id


def run(postgres: EmbeddedPostgres, contacts: int,
        rounds: int) -> tuple[float, list[float], list[float], int]:
    sessions, trunks, cid = new_campaign(postgres, f"hopper_{contacts}")
    policy = NumberPolicy()
    started = time.perf_counter()
    contact_upload.upload_contacts(sessions, cid, contact_lines(contacts), "csv", policy)
    loaded = time.perf_counter() - started
    campaigns.change_status(sessions, cid, "start")
    hopper = Hopper(sessions, trunks, policy)
    passes: list[float] = []
    idle: list[float] = []
    dialled = 0
    for _ in range(rounds):
        now = datetime.now(tz=UTC)
        started = time.perf_counter()
        queued = hopper.run(None, now).queued
        passes.append(time.perf_counter() - started)
        dialled += len(queued)
        started = time.perf_counter()  # a tick while every line is busy: most ticks are
        hopper.run(None, now)
        idle.append(time.perf_counter() - started)
        with sessions.begin() as session:  # the calls end, as the consumer would write it
            session.execute(update(CallRow).where(CallRow.campaign_id == cid,
                                                  CallRow.status == "queued")
                            .values(status="completed", outcome="answered", ended_at=now,
                                    attempt_id=func.gen_random_uuid(), claimed_at=now,
                                    dialed_at=now))
    return loaded, passes, idle, dialled


# A finished campaign's calls, as the consumer leaves them: a mix of final statuses, each with
# its attempt. One statement, so the bench does not time its own loading.
_FINISHED_CALLS = text("""
    INSERT INTO calls (id, to_number, dial_string, ring_timeout, trunk, priority, source,
                       variables, status, outcome, attempt_id, campaign_id, created_at,
                       updated_at, claimed_at, ended_at, callback_events, callback_seq)
    SELECT gen_random_uuid(), '+98912' || lpad(i::text, 7, '0'), 'PJSIP/x@carrier-trunk', 30,
           'carrier-trunk', 5, 'campaign', '{}',
           (ARRAY['completed', 'completed', 'busy', 'no-answer', 'failed'])[1 + i % 5],
           (ARRAY['answered', 'answered', 'busy', 'no-answer', 'congestion'])[1 + i % 5],
           gen_random_uuid(), :cid, :now, :now, :now, :now, 'completed', 0
      FROM generate_series(1, :n) AS i""")


def read_cost(postgres: EmbeddedPostgres, calls: int,
              rounds: int = 30) -> tuple[float, list[float], list[float]]:
    """Seconds to load ``calls`` finished calls of one campaign, then per read of the
    campaign (the API's use case) and of its call counts alone."""
    sessions, _, cid = new_campaign(postgres, f"reads_{calls}")
    started = time.perf_counter()
    with sessions.begin() as session:
        session.execute(_FINISHED_CALLS, {"cid": cid, "n": calls, "now": datetime.now(tz=UTC)})
    with sessions() as session:
        session.execute(text("ANALYZE calls"))
        session.commit()
    loaded = time.perf_counter() - started
    views: list[float] = []
    counts: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        campaigns.view(sessions, cid)
        views.append(time.perf_counter() - started)
        with sessions() as session:
            started = time.perf_counter()
            CampaignRepository(session).call_counts(cid)
            counts.append(time.perf_counter() - started)
    return loaded, views, counts


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--read-calls", type=int, default=1_000_000,
                        help="finished calls of the campaign read back (0: skip the reads)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="dispatcher-hopper-bench-"))
    postgres = EmbeddedPostgres(root, database="bench")
    postgres.start()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; data in {root}; "
          f"load average {load()}")
    try:
        for size in args.sizes:
            loaded, passes, idle, dialled = run(postgres, size, args.rounds)
            ms = [p * 1000 for p in passes]
            idle_ms = [p * 1000 for p in idle]
            print(f"\nhopper with {size:,} contacts pending (loaded in {loaded:.1f} s): "
                  f"{dialled} dialled in {args.rounds} passes")
            print(f"  {sum(ms) / max(dialled, 1):.2f} ms of hopper per dialled contact; "
                  f"a pass p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms "
                  f"(each settles the last pass's calls and feeds 30 lines)")
            print(f"  a tick with every line busy (most ticks): p50 "
                  f"{percentile(idle_ms, 50):.1f} ms, p95 {percentile(idle_ms, 95):.1f} ms")
            print(f"  load average {load()}")
        if args.read_calls:
            loaded, views, counts = read_cost(postgres, args.read_calls)
            view_ms = [v * 1000 for v in views]
            count_ms = [c * 1000 for c in counts]
            print(f"\na campaign with {args.read_calls:,} finished calls (loaded in "
                  f"{loaded:.1f} s), read {len(views)} times:")
            print(f"  the campaign (GET /v1/campaigns/{{id}}'s use case): p50 "
                  f"{percentile(view_ms, 50):.1f} ms, p95 {percentile(view_ms, 95):.1f} ms")
            print(f"  its call counts alone: p50 {percentile(count_ms, 50):.1f} ms, "
                  f"p95 {percentile(count_ms, 95):.1f} ms")
            print(f"  load average {load()}")
    finally:
        postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
