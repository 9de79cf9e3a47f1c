"""What each trunk's lines are doing: the one report behind ``/v1/trunks``, ``/metrics``
and ``/ops``, so the three never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatcher.adapters.db import reports
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.redis.capacity import Usage
from dispatcher.domain.trunks import Trunk, TrunkTable
from dispatcher.usecases.admission import Admissions


@dataclass(frozen=True)
class TrunkLines:
    trunk: Trunk
    usage: Usage
    ami: str  # the event consumer's AMI session: connected, disconnected or unknown
    oldest_waiting_seconds: float | None

    @property
    def in_use(self) -> int:
        """Lines busy on the wire: ours and other clients'."""
        return self.usage.in_use + self.usage.foreign


def line_report(sessions: Sessions, admissions: Admissions, trunks: TrunkTable,
                now: datetime) -> list[TrunkLines]:
    with sessions() as session:
        oldest = reports.oldest_queued(session)
    report = []
    for trunk in trunks.trunks:
        since = oldest.get(trunk.name)
        report.append(TrunkLines(
            trunk, admissions.usage(trunk.name), admissions.ami_state(trunk.name),
            round((now - since).total_seconds(), 1) if since else None))
    return report
