"""The operations page's picture: lines per trunk, calls on the wire and the campaigns being
dialled now; the last hour minute by minute (lines in use, calls ended by outcome); answer
rates and call lengths per trunk and campaign; and alerts in plain words."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatcher.adapters.db import reports
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import CallRow
from dispatcher.domain.ops_alerts import Alert, TrunkHealth, alerts
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.campaigns import CampaignView, live_views
from dispatcher.usecases.line_report import TrunkLines, line_report

HOUR = timedelta(hours=1)
ALERT_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Quality:
    """Answer-seizure ratio and average call duration of the attempts that ended lately."""

    kind: str  # "trunk" or "campaign"
    name: str
    attempts: int
    answered: int
    talk_seconds: float

    @property
    def asr(self) -> float | None:
        return round(100 * self.answered / self.attempts, 1) if self.attempts else None

    @property
    def acd(self) -> float | None:
        return round(self.talk_seconds / self.answered, 1) if self.answered else None


@dataclass(frozen=True)
class OpsBoard:
    now: datetime
    lines: list[TrunkLines]
    calls: list[CallRow]  # not yet final, oldest first
    campaigns: list[CampaignView]
    minutes: list[datetime]  # the last hour's minutes, oldest first
    lines_per_minute: dict[str, list[int]]  # per trunk, one value per minute
    outcomes_per_minute: dict[str, list[int]]  # per outcome, one value per minute
    quality: list[Quality]
    alerts: list[Alert]


def ops_board(sessions: Sessions, admissions: Admissions, trunks: TrunkTable, now: datetime,
              *, call_limit: int, campaign_limit: int) -> OpsBoard:
    since = now - HOUR
    with sessions() as session:
        calls = reports.active_calls(session, call_limit)
        busy = reports.lines_per_minute(session, since, now)
        ended = reports.outcomes_per_minute(session, since)
        answered = reports.answers(session, since)
        recent = {t: (n, f, last) for t, n, f, last in reports.endings(session,
                                                                        now - ALERT_WINDOW)}
        due, oldest = reports.callback_backlog(session, now)
    lines = line_report(sessions, admissions, trunks, now)
    paused = {r.trunk.name for r in lines if r.usage.paused}
    minutes = _minutes(since, now)
    health = [TrunkHealth(r.trunk.name, r.ami, r.usage.watched, r.usage.paused,
                          *recent.get(r.trunk.name, (0, 0, ""))) for r in lines]
    return OpsBoard(
        now, lines, calls,
        live_views(sessions, limit=campaign_limit, trunk_paused=paused.__contains__),
        minutes, _per_minute(minutes, busy, [t.name for t in trunks.trunks]),
        _per_minute(minutes, [(o, m, n) for m, o, n in ended], []),
        _quality(answered), alerts(health, due, oldest, now,
                                   window_minutes=int(ALERT_WINDOW.total_seconds() // 60)))


def _minutes(since: datetime, now: datetime) -> list[datetime]:
    first = since.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return [first + timedelta(minutes=i)
            for i in range(int((now - first).total_seconds() // 60) + 1)]


def _per_minute(minutes: list[datetime], rows: list[tuple[str, datetime, int]],
                always: list[str]) -> dict[str, list[int]]:
    index = {m: i for i, m in enumerate(minutes)}
    series: dict[str, list[int]] = {name: [0] * len(minutes) for name in always}
    for name, minute, count in rows:
        i = index.get(minute)
        if i is not None:
            series.setdefault(name, [0] * len(minutes))[i] += count
    return series


def _quality(rows: list[tuple[str, str | None, int, int, float]]) -> list[Quality]:
    by: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for trunk, campaign, attempts, answered, talked in rows:
        for key in (("trunk", trunk),) + ((("campaign", campaign),) if campaign else ()):
            totals = by[key]
            totals[0] += attempts
            totals[1] += answered
            totals[2] += talked
    return [Quality(kind, name, int(a), int(b), c)
            for (kind, name), (a, b, c) in sorted(by.items())]
