"""The AMI events recorded for each call: stored once each, read back in the PBX's order."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatcher.adapters.db.engine import raw_cursor
from dispatcher.adapters.db.event_log import EventLog
from dispatcher.adapters.db.tables import CallEventRow


class CallEventRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def events(self, call_id: uuid.UUID) -> list[CallEventRow]:
        stmt = (select(CallEventRow).where(CallEventRow.call_id == call_id)
                .order_by(CallEventRow.event_at, CallEventRow.id))
        return list(self.session.scalars(stmt))

    def last_event(self, call_id: uuid.UUID, name: str) -> dict[str, Any] | None:
        """The payload of the call's latest stored event called ``name``."""
        stmt = (select(CallEventRow.payload)
                .where(CallEventRow.call_id == call_id, CallEventRow.name == name)
                .order_by(CallEventRow.event_at.desc()).limit(1))
        return self.session.scalars(stmt).first()

    def record_events(self, log: EventLog) -> None:
        """Store events once each; a duplicate delivery (two consumers, a replay) is a no-op
        thanks to the content key, and events of attempts that are not ours are dropped by the
        join. The consumer's hot path: one statement per batch, its columns sent as array
        literals (``unnest``), which PostgreSQL parses far faster than a VALUES list."""
        if log:
            with raw_cursor(self.session) as cursor:
                cursor.execute(_INSERT_EVENTS, log.arrays())


_INSERT_EVENTS = (  # in arrival order, so ids keep it (a join alone may reorder the rows)
    "INSERT INTO call_events (call_id, attempt_id, name, event_at, payload, event_key) "
    "SELECT calls.id, e.attempt_id, e.name, to_timestamp(e.event_at), e.payload, "
    "encode(sha256(convert_to(e.attempt_id::text || '|' || e.name || '|' || e.payload::text, "
    "'UTF8')), 'hex') "
    "FROM unnest(%s::uuid[], %s::varchar[], %s::float8[], %s::json[]) "
    "WITH ORDINALITY AS e(attempt_id, name, event_at, payload, arrival) "
    "JOIN calls ON calls.attempt_id = e.attempt_id ORDER BY e.arrival "
    "ON CONFLICT (event_key) DO NOTHING")
