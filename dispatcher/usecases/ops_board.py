"""The operations page's picture of the moment: lines per trunk, calls on the wire and the
campaigns being dialled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatcher.adapters.db import reports
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import CallRow
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.campaigns import CampaignView, live_views
from dispatcher.usecases.line_report import TrunkLines, line_report


@dataclass(frozen=True)
class OpsBoard:
    now: datetime
    lines: list[TrunkLines]
    calls: list[CallRow]  # not yet final, oldest first
    campaigns: list[CampaignView]


def ops_board(sessions: Sessions, admissions: Admissions, trunks: TrunkTable, now: datetime,
              *, call_limit: int, campaign_limit: int) -> OpsBoard:
    with sessions() as session:
        calls = reports.active_calls(session, call_limit)
    lines = line_report(sessions, admissions, trunks, now)
    paused = {r.trunk.name for r in lines if r.usage.paused}
    return OpsBoard(now, lines, calls, live_views(sessions, limit=campaign_limit,
                                                  trunk_paused=paused.__contains__))
