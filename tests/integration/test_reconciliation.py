"""Reconciliation settles calls that ended while nobody was listening, and nothing else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.tables import CallRow
from dispatcher.usecases.reconcile import reconcile

GRACE = timedelta(seconds=15)


def add_call(sessions: sessionmaker[Session], *, status: str = "ringing",
             age: timedelta = timedelta(minutes=5), **values: object) -> CallRow:
    now = datetime.now(tz=UTC)
    row = CallRow(id=uuid.uuid4(), to_number="+989121231001",
                  dial_string="PJSIP/09121231001@carrier-trunk", ring_timeout=30, variables={},
                  trunk="carrier-trunk",
                  status=status, attempt_id=uuid.uuid4(), claimed_at=now - age,
                  dialed_at=now - age, created_at=now - age, updated_at=now - age, **values)
    with sessions.begin() as session:
        session.add(row)
    return row


def reload(sessions: sessionmaker[Session], row: CallRow) -> CallRow:
    with sessions() as session:
        fresh = CallRepository(session).get(row.id)
    assert fresh is not None
    return fresh


def test_a_quiet_call_that_is_not_live_and_has_no_cdr_is_unresolved(
    sessions: sessionmaker[Session]
) -> None:
    row = add_call(sessions)
    result = reconcile(sessions, {}, grace=GRACE)
    fresh = reload(sessions, row)
    assert (fresh.status, fresh.outcome) == ("failed", "unresolved")
    assert (result.live, result.settled, result.unresolved) == (0, 0, 1)
    assert result.ended == [(row.id, row.trunk, None)]


def test_a_live_call_is_left_alone(sessions: sessionmaker[Session]) -> None:
    row = add_call(sessions, status="in-progress")
    reconcile(sessions, {str(row.attempt_id): "6"}, grace=GRACE)
    assert reload(sessions, row).status == "in-progress"


def test_recent_activity_is_never_judged(sessions: sessionmaker[Session]) -> None:
    row = add_call(sessions, status="initiated", age=timedelta(seconds=2))
    reconcile(sessions, {}, grace=GRACE)
    assert reload(sessions, row).status == "initiated"


def test_final_calls_are_never_touched(sessions: sessionmaker[Session]) -> None:
    row = add_call(sessions, status="busy", outcome="busy")
    assert reconcile(sessions, {}, grace=GRACE).unresolved == 0
    assert reload(sessions, row).status == "busy"


def test_the_cdr_asterisk_wrote_to_postgresql_settles_the_call(
    sessions: sessionmaker[Session]
) -> None:
    answered = add_call(sessions)
    busy = add_call(sessions, cancel_requested_at=None)
    with sessions.begin() as session:
        # The table cdr_pgsql writes (Asterisk's documented schema, the columns we read).
        session.execute(text(
            "CREATE TABLE cdr (calldate timestamptz, uniqueid varchar(150), "
            "disposition varchar(45), duration int, billsec int)"))
        session.execute(text("INSERT INTO cdr VALUES (:d, :u, 'ANSWERED', 40, 30), "
                             "(:d, :b, 'BUSY', 0, 0)"),
                        {"d": datetime.now(tz=UTC) - timedelta(minutes=4),
                         "u": str(answered.attempt_id), "b": str(busy.attempt_id)})
    assert reconcile(sessions, {}, grace=GRACE).settled == 2
    a, b = reload(sessions, answered), reload(sessions, busy)
    assert (a.status, a.outcome) == ("completed", "answered")
    assert a.ended_at - a.answered_at == timedelta(seconds=30)
    assert (b.status, b.outcome) == ("busy", "busy")


def test_without_cdr_pgsql_the_cdr_event_the_consumer_stored_settles_the_call(
    sessions: sessionmaker[Session]
) -> None:
    """A PBX with no cdr table still said how the call ended, in its Cdr event: a call whose
    Hangup was missed (the consumer reconnecting) is settled from it, not left unresolved."""
    from dispatcher.adapters.ami.protocol import AMIMessage
    from dispatcher.usecases.record_events import record_events

    busy, answered = add_call(sessions), add_call(sessions)
    sent = datetime.now(tz=UTC) - timedelta(minutes=4)
    local = sent.astimezone(timezone(timedelta(hours=3, minutes=30)))  # a PBX on Tehran time
    clock = local.strftime("%Y-%m-%d %H:%M:%S")
    answer_clock = (local - timedelta(seconds=20)).strftime("%Y-%m-%d %H:%M:%S")

    def cdr(row: CallRow, disposition: str, answer: str) -> AMIMessage:
        return AMIMessage((("Event", "Cdr"), ("Timestamp", f"{sent.timestamp():.6f}"),
                           ("UniqueID", str(row.attempt_id)), ("AnswerTime", answer),
                           ("EndTime", clock), ("Disposition", disposition)))

    record_events(sessions, [cdr(busy, "BUSY", ""), cdr(answered, "ANSWERED", answer_clock)])
    assert reload(sessions, busy).status == "ringing"  # a live Cdr alone decides nothing yet
    assert reload(sessions, answered).status == "in-progress"  # but it proves an answer
    later = datetime.now(tz=UTC) + GRACE + timedelta(seconds=1)  # both quiet since
    assert reconcile(sessions, {}, grace=GRACE, now=later).settled == 2
    b, a = reload(sessions, busy), reload(sessions, answered)
    assert (b.status, b.outcome) == ("busy", "busy")
    assert (a.status, a.outcome) == ("completed", "answered")
    assert abs((a.ended_at - sent).total_seconds()) < 1  # the zone inferred from Timestamp
    assert a.ended_at - a.answered_at == timedelta(seconds=20)
