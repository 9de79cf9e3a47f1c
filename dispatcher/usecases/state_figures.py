"""The figures ``/metrics`` exposes, read at scrape time from the state every process shares
(PostgreSQL and Redis), so any web process gives the same answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatcher.adapters.db import reports
from dispatcher.adapters.db.engine import Sessions
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.line_report import TrunkLines, line_report


@dataclass(frozen=True)
class StateFigures:
    calls: list[tuple[str, str, int]]  # status, outcome, count
    originate_latency: list[float | None]  # p50, p95, p99 seconds
    consumer_lag_p99: float | None
    lines: list[TrunkLines]
    campaigns: list[tuple[str, int]]  # status, count
    live_contacts: list[tuple[str, str, str, int]]  # campaign id, name, state, count


def state_figures(sessions: Sessions, admissions: Admissions, trunks: TrunkTable,
                  now: datetime) -> StateFigures:
    with sessions() as session:
        calls = reports.calls_by_outcome(session)
        latency = reports.originate_latency(session)
        lag = reports.consumer_lag_p99(session)
        by_status = reports.campaigns_by_status(session)
        contacts = reports.live_contacts(session)
    return StateFigures(calls, latency, lag, line_report(sessions, admissions, trunks, now),
                        by_status, contacts)
