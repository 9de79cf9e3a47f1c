"""The operations page's figures from real rows: lines in use minute by minute, calls ended by
outcome, answer-seizure ratio and call length, and the alerts they raise. The moment is fixed,
not today's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.celery_sender import CeleryPublisher
from dispatcher.adapters.db.tables import CallbackDeliveryRow, CallRow
from dispatcher.config import Settings
from dispatcher.domain.trunks import load_trunks
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.ops_board import ops_board

NOW = datetime(2026, 6, 8, 7, 0, 30, tzinfo=UTC)


def ended_call(trunk: str, outcome: str, status: str, dialed: datetime, ended: datetime,
               answered: datetime | None = None) -> CallRow:
    return CallRow(id=uuid.uuid4(), to_number="+989121231001", trunk=trunk,
                   dial_string="PJSIP/09121231001@carrier-trunk", ring_timeout=30,
                   variables={}, status=status, outcome=outcome, attempt_id=uuid.uuid4(),
                   created_at=dialed - timedelta(seconds=1), claimed_at=dialed,
                   dialed_at=dialed, answered_at=answered, ended_at=ended)


def test_the_last_hour_in_figures_and_the_alerts_it_raises(
        sessions: sessionmaker[Session], settings: Settings) -> None:
    trunk = settings.trunk_name
    half_hour_ago = NOW - timedelta(minutes=30)
    rows = [ended_call(trunk, "answered", "completed", half_hour_ago, half_hour_ago +
                       timedelta(seconds=90), answered=half_hour_ago + timedelta(seconds=30))
            for _ in range(2)]
    rows.append(ended_call(trunk, "busy", "busy", half_hour_ago,
                           half_hour_ago + timedelta(seconds=5)))
    rows += [ended_call(trunk, "congestion", "failed", NOW - timedelta(minutes=3),
                        NOW - timedelta(minutes=3) + timedelta(seconds=1)) for _ in range(5)]
    with sessions.begin() as session:
        session.add_all(rows)
        session.flush()
        session.add_all(CallbackDeliveryRow(
            call_id=rows[0].id, sequence=i, event="completed", event_id=uuid.uuid4(),
            url="https://example.org/hook", payload={}, state="pending", attempts=1,
            created_at=NOW - timedelta(minutes=8), next_attempt_at=NOW - timedelta(minutes=1))
            for i in range(60))
    admissions = Admissions(redis.Redis.from_url(settings.redis_url), load_trunks(settings),
                            CeleryPublisher(settings.redis_url))

    board = ops_board(sessions, admissions, load_trunks(settings), NOW, call_limit=10,
                      campaign_limit=10)

    assert len(board.minutes) == 60 and board.minutes[-1] == NOW.replace(second=0)
    at = board.minutes.index(half_hour_ago.replace(second=0))
    assert board.lines_per_minute[trunk][at] == 3 and board.lines_per_minute[trunk][0] == 0
    assert sum(board.outcomes_per_minute["answered"]) == 2
    assert sum(board.outcomes_per_minute["congestion"]) == 5
    [quality] = [q for q in board.quality if q.kind == "trunk"]
    assert (quality.attempts, quality.answered, quality.asr, quality.acd) == (8, 2, 25.0, 60.0)
    subjects = {(a.level, a.subject, a.text.split(" ")[0]) for a in board.alerts}
    assert ("critical", trunk, "All") in subjects  # every call of the last 10 minutes failed
    assert ("warning", "callbacks", "60") in subjects
