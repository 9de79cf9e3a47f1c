"""The event consumer's AMI sessions: when each began and ended, and the PBX's uptime then
(a restarted PBX forgets every call it carried)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from dispatcher.adapters.db.tables import ConsumerSessionRow


class ConsumerSessionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def opened(self, consumer: str, at: datetime, pbx_uptime: str | None) -> int:
        row = ConsumerSessionRow(consumer=consumer, connected_at=at, pbx_uptime=pbx_uptime)
        self.session.add(row)
        self.session.flush()
        return row.id

    def closed(self, session_id: int, at: datetime) -> None:
        self.session.execute(update(ConsumerSessionRow)
                             .where(ConsumerSessionRow.id == session_id)
                             .values(disconnected_at=at))
