"""Retention: old event logs, and old calls when asked, go in small batches while calls keep
arriving; nothing unfinished, nothing recent and nothing of a running campaign is touched, and
nothing is passed over. The moment is fixed, not today's."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.tables import (
    CallbackDeliveryRow,
    CallEventRow,
    CallRow,
    CampaignRow,
)
from dispatcher.usecases.retention import RetentionPolicy, purge

NOW = datetime(2026, 6, 8, 7, 0, tzinfo=UTC)


def add_call(session: Session, created: datetime, status: str = "completed",
             campaign_id: uuid.UUID | None = None, events: int = 3) -> uuid.UUID:
    call = CallRow(id=uuid.uuid4(), to_number="+989121231001", trunk="t", ring_timeout=30,
                   dial_string="PJSIP/09121231001@carrier-trunk", variables={},
                   status=status, attempt_id=uuid.uuid4(), created_at=created,
                   campaign_id=campaign_id,
                   ended_at=created + timedelta(minutes=1) if status == "completed" else None)
    session.add(call)
    session.flush()
    session.add_all(CallEventRow(call_id=call.id, attempt_id=call.attempt_id, name=f"E{i}",
                                 event_at=created, received_at=created, payload={},
                                 event_key=uuid.uuid4().hex) for i in range(events))
    return call.id


def event_count(sessions: sessionmaker[Session], call_ids: list[uuid.UUID]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CallEventRow)
                                  .where(CallEventRow.call_id.in_(call_ids))) or 0)


def test_old_event_logs_go_while_traffic_arrives_and_an_unfinished_call_holds_the_line(
        sessions: sessionmaker[Session]) -> None:
    long_ago = NOW - timedelta(days=40)
    with sessions.begin() as session:
        before = [add_call(session, long_ago + timedelta(minutes=i)) for i in range(6)]
        stuck = add_call(session, long_ago + timedelta(minutes=6), status="in-progress",
                         events=2)
        after = [add_call(session, long_ago + timedelta(minutes=7 + i)) for i in range(6)]
        recent = [add_call(session, NOW - timedelta(days=1, minutes=i)) for i in range(3)]
    live: list[uuid.UUID] = []
    stop = threading.Event()

    def traffic() -> None:  # calls and their events arriving meanwhile, bounded
        for i in range(200):
            if stop.is_set():
                return
            with sessions.begin() as session:
                live.append(add_call(session, NOW - timedelta(seconds=i)))

    writer = threading.Thread(target=traffic)
    writer.start()
    try:
        policy = RetentionPolicy(event_days=30, batch=2, max_batches=50)
        first = purge(sessions, policy, NOW)
    finally:
        stop.set()
        writer.join(timeout=30)

    assert first.events == 18 and event_count(sessions, before) == 0
    assert first.stopped_at["events"] == f"call {stuck} is in-progress"
    assert event_count(sessions, [stuck]) == 2  # not finished: kept
    assert event_count(sessions, after) == 18  # behind it: kept for now, not passed over
    assert event_count(sessions, recent) == 9
    assert live and event_count(sessions, live) == 3 * len(live)
    with sessions() as session:  # the calls themselves are kept (no call retention)
        assert session.scalar(select(func.count()).select_from(CallRow)) == 16 + len(live)

    with sessions.begin() as session:
        session.execute(update(CallRow).where(CallRow.id == stuck).values(
            status="completed", ended_at=long_ago + timedelta(minutes=7)))
    second = purge(sessions, RetentionPolicy(event_days=30, batch=2, max_batches=50), NOW)
    assert second.events == 2 + 18 and event_count(sessions, [stuck, *after]) == 0
    assert event_count(sessions, recent) == 9 and event_count(sessions, live) == 3 * len(live)
    assert purge(sessions, RetentionPolicy(event_days=30), NOW).events == 0


def test_old_calls_go_with_their_callbacks_but_not_while_their_campaign_runs(
        sessions: sessionmaker[Session]) -> None:
    long_ago = NOW - timedelta(days=100)
    with sessions.begin() as session:
        campaign = CampaignRow(id=uuid.uuid4(), name="spring", status="running", trunk="t",
                               max_lines=1, ring_timeout=30, priority=5, variables={},
                               retry={}, windows=[], timezone="Asia/Tehran", dnc_lists=[],
                               callback_events="")
        session.add(campaign)
        session.flush()
        api_call = add_call(session, long_ago)
        session.add(CallbackDeliveryRow(call_id=api_call, sequence=1, event="completed",
                                        event_id=uuid.uuid4(), url="https://example.org/h",
                                        payload={}, state="delivered", attempts=1))
        campaign_call = add_call(session, long_ago + timedelta(minutes=1),
                                 campaign_id=campaign.id)
        kept = add_call(session, NOW - timedelta(days=10))

    policy = RetentionPolicy(event_days=30, call_days=90)
    result = purge(sessions, policy, NOW)
    assert result.calls == 1
    assert result.stopped_at["calls"].endswith("belongs to a campaign that is running")
    with sessions() as session:
        remaining = set(session.scalars(select(CallRow.id)))
        assert remaining == {campaign_call, kept}
        assert session.scalar(select(func.count()).select_from(CallbackDeliveryRow)) == 0
    with sessions.begin() as session:
        session.execute(update(CampaignRow).where(CampaignRow.id == campaign.id)
                        .values(status="completed"))
    assert purge(sessions, policy, NOW).calls == 1
    with sessions() as session:
        assert set(session.scalars(select(CallRow.id))) == {kept}
    assert event_count(sessions, [kept]) == 3
