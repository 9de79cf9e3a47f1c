"""The consumer's writing thread: events reach PostgreSQL in the order they were read, are held
while the database is away, and a bug in writing stops the consumer instead of losing events
quietly."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.adapters.db.calls import CallRepository, LockedCall
from dispatcher.adapters.db.engine import make_engine, make_session_factory, raw_cursor
from dispatcher.adapters.db.tables import CallEventRow, CallRow
from dispatcher.usecases import record_events as recording
from workers.event_writer import EventWriter


def event(name: str, attempt: uuid.UUID, **headers: str) -> AMIMessage:
    return AMIMessage((("Event", name), ("Privilege", "call,all"),
                       ("Timestamp", f"{time.time():.6f}"), *headers.items(),
                       ("Uniqueid", str(attempt)), ("Linkedid", str(attempt))))


def answered_call(attempt: uuid.UUID) -> list[list[AMIMessage]]:
    """One answered call's events, in three reads."""
    return [
        [event("Newchannel", attempt, Channel="PJSIP/carrier-1", ChannelState="0")],
        [event("Newstate", attempt, Channel="PJSIP/carrier-1", ChannelState="5"),
         event("Newstate", attempt, Channel="PJSIP/carrier-1", ChannelState="6")],
        [event("Hangup", attempt, Channel="PJSIP/carrier-1", Cause="16")],
    ]


def dialled(sessions: sessionmaker[Session]) -> tuple[uuid.UUID, uuid.UUID]:
    call_id, attempt = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(tz=UTC)
    with sessions.begin() as session:
        session.add(CallRow(id=call_id, to_number="+989121231001", dial_string="PJSIP/x@y",
                            ring_timeout=30, variables={}, status="initiated",
                            attempt_id=attempt, claimed_at=now, created_at=now))
    return call_id, attempt


def test_events_are_written_in_the_order_they_were_read(
        sessions: sessionmaker[Session]) -> None:
    call_id, attempt = dialled(sessions)
    ended: list[recording.EndedCall] = []
    writer = EventWriter(sessions, ended.extend)
    try:
        for batch in answered_call(attempt):
            writer.add(batch)
        assert writer.flush(timeout=10)
    finally:
        writer.close()
    with sessions() as session:
        names = session.scalars(select(CallEventRow.name).where(CallEventRow.call_id == call_id)
                                .order_by(CallEventRow.id)).all()
        row = session.get(CallRow, call_id)
        assert row is not None
        status = row.status
    assert names == ["Newchannel", "Newstate", "Newstate", "Hangup"]
    assert status == "completed"
    assert [call.call_id for call in ended] == [call_id]


def test_events_are_held_while_the_database_is_away() -> None:
    unreachable = make_session_factory(make_engine(
        "postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}))
    writer = EventWriter(unreachable, lambda ended: None)
    try:
        writer.add(answered_call(uuid.uuid4())[0])
        assert not writer.flush(timeout=2)
        assert writer.held == 1
    finally:
        writer.close(timeout=0.5)


def test_an_error_from_the_database_is_retried_not_taken_for_a_bug(
        sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot path sends statements on a raw cursor; what PostgreSQL refuses there (a
    deadlock, say) must reach the writer as a database error, which it retries."""
    lock_states = CallRepository.lock_states
    refused: list[bool] = []

    def refuse_once(self: CallRepository, attempt_ids: Sequence[uuid.UUID]
                    ) -> dict[uuid.UUID, LockedCall]:
        if not refused:
            refused.append(True)
            with raw_cursor(self.session) as cursor:
                cursor.execute("SELECT 1 / 0")  # a real error from the real server
        return lock_states(self, attempt_ids)

    monkeypatch.setattr(CallRepository, "lock_states", refuse_once)
    call_id, attempt = dialled(sessions)
    writer = EventWriter(sessions, lambda ended: None)
    try:
        for batch in answered_call(attempt):
            writer.add(batch)
        deadline = time.monotonic() + 10
        while not writer.flush(timeout=0.5):
            assert time.monotonic() < deadline
        writer.check()
    finally:
        writer.close()
    assert refused
    with sessions() as session:
        row = session.get(CallRow, call_id)
        assert row is not None
        assert row.status == "completed"


def test_a_bug_while_writing_stops_the_consumer(sessions: sessionmaker[Session],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> recording.Ended:
        raise ValueError("a bug")

    monkeypatch.setattr(recording, "record_batch", broken)
    writer = EventWriter(sessions, lambda ended: None)
    try:
        writer.add(answered_call(uuid.uuid4())[0])
        with pytest.raises(RuntimeError, match="event writer stopped"):
            writer.flush(timeout=5)
        with pytest.raises(RuntimeError):
            writer.check()
    finally:
        writer.close()
