"""The dial use case against the simulated PBX over TCP: at most one Originate per call."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.ami.errors import AMIUnavailable
from dispatcher.adapters.ami.manager import WorkerAMISession
from dispatcher.adapters.ami.originate import OriginateRequest
from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.tables import CallRow
from dispatcher.config import AMIEndpoint
from dispatcher.devstack.embedded import free_port
from dispatcher.usecases import cancel_call
from dispatcher.usecases.dial_call import OriginateTarget, dial_call
from pbxsim import PBXSimulator

TARGET = OriginateTarget()


def queued_call(sessions: sessionmaker[Session], number: str = "09121231001") -> uuid.UUID:
    call_id = uuid.uuid4()
    with sessions.begin() as session:
        session.add(CallRow(id=call_id, to_number="+98" + number[1:],
                            dial_string=f"PJSIP/{number}@carrier-trunk", ring_timeout=30,
                            variables={"ORDER": "A-1"}, status="queued",
                            created_at=datetime.now(tz=UTC)))
    return call_id


def row(sessions: sessionmaker[Session], call_id: uuid.UUID) -> CallRow:
    with sessions() as session:
        found = CallRepository(session).get(call_id)
    assert found is not None
    return found


@pytest.fixture
def ami(sim: PBXSimulator) -> Iterator[WorkerAMISession]:
    session = WorkerAMISession(AMIEndpoint("127.0.0.1", sim.port, "dispatcher", "secret",
                                           action_timeout=1.0))
    yield session
    session.close()


def originates(sim: PBXSimulator) -> list[dict[str, str]]:
    return [a for a in sim.actions if a.get("Action") == "Originate"]


def test_a_dial_sends_one_originate_keyed_by_the_attempt(
    sessions: sessionmaker[Session], sim: PBXSimulator, ami: WorkerAMISession
) -> None:
    call_id = queued_call(sessions)
    assert dial_call(sessions, call_id, lambda _t: ami, TARGET) == "dialed"
    dialled = row(sessions, call_id)
    assert dialled.status != "queued" and dialled.dialed_at is not None
    [action] = originates(sim)
    attempt = str(dialled.attempt_id)
    assert action["ActionID"] == action["ChannelId"] == attempt
    assert action["Channel"] == "PJSIP/09121231001@carrier-trunk"
    assert action["Async"] == "true" and action["Timeout"] == "30000"
    assert sim.originate_counts() == {attempt: 1}


def test_a_redelivered_task_does_nothing(
    sessions: sessionmaker[Session], sim: PBXSimulator, ami: WorkerAMISession
) -> None:
    call_id = queued_call(sessions)
    assert dial_call(sessions, call_id, lambda _t: ami, TARGET) == "dialed"
    assert dial_call(sessions, call_id, lambda _t: ami, TARGET) == "skipped"
    assert len(originates(sim)) == 1


def test_concurrent_duplicates_dial_once(
    sessions: sessionmaker[Session], sim: PBXSimulator
) -> None:
    call_id = queued_call(sessions)
    endpoint = AMIEndpoint("127.0.0.1", sim.port, "dispatcher", "secret")
    results: list[str] = []

    def worker() -> None:
        session = WorkerAMISession(endpoint)
        try:
            results.append(dial_call(sessions, call_id, lambda _t: session, TARGET))
        finally:
            session.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == ["dialed"] + ["skipped"] * 7
    assert len(originates(sim)) == 1


def test_a_canceled_call_is_never_dialled(
    sessions: sessionmaker[Session], sim: PBXSimulator, ami: WorkerAMISession
) -> None:
    call_id = queued_call(sessions)
    with sessions.begin() as session:
        assert CallRepository(session).cancel_if_queued(call_id)
    assert dial_call(sessions, call_id, lambda _t: ami, TARGET) == "skipped"
    assert originates(sim) == []


class CancelDuringOriginate:
    """The API's cancel lands while the Originate is on its way: the dial must hang up."""

    def __init__(self, ami: WorkerAMISession, sessions: sessionmaker[Session],
                 call_id: uuid.UUID) -> None:
        self.ami, self.sessions, self.call_id = ami, sessions, call_id

    def originate(self, request: OriginateRequest) -> None:
        cancel_call.cancel_call(self.sessions, self.call_id)
        self.ami.originate(request)

    def hangup(self, channel: str, cause: int = 16) -> bool:
        return self.ami.hangup(channel, cause)


def test_a_cancel_that_arrives_during_the_originate_hangs_the_call_up(
    sessions: sessionmaker[Session], sim: PBXSimulator, ami: WorkerAMISession
) -> None:
    call_id = queued_call(sessions)
    port = CancelDuringOriginate(ami, sessions, call_id)
    assert dial_call(sessions, call_id, lambda _t: port, TARGET) == "dialed"
    dialled = row(sessions, call_id)
    assert dialled.dialed_at is not None and dialled.cancel_requested_at is not None
    hangups = [a for a in sim.actions if a.get("Action") == "Hangup"]
    assert [h.get("Channel") for h in hangups] == [str(dialled.attempt_id)]


def test_an_unreachable_pbx_puts_the_call_back_for_a_retry(
    sessions: sessionmaker[Session]
) -> None:
    call_id = queued_call(sessions)
    dead = AMIEndpoint("127.0.0.1", free_port(), "dispatcher", "secret", connect_timeout=0.5)
    with pytest.raises(AMIUnavailable):
        dial_call(sessions, call_id, lambda _t: WorkerAMISession(dead), TARGET)
    back = row(sessions, call_id)
    assert (back.status, back.attempt_id) == ("queued", None)


def test_a_silent_pbx_leaves_the_outcome_unknown_and_never_redials(
    sessions: sessionmaker[Session], sim: PBXSimulator, ami: WorkerAMISession
) -> None:
    ami.ping()  # log in while the PBX still answers
    sim.set_silent(True)
    call_id = queued_call(sessions)
    assert dial_call(sessions, call_id, lambda _t: ami, TARGET) == "unknown"
    stuck = row(sessions, call_id)
    assert stuck.status == "initiated" and "unknown" in (stuck.dial_error or "")
    sim.set_silent(False)
    assert dial_call(sessions, call_id, lambda _t: ami, TARGET) == "skipped"
    assert len(originates(sim)) == 1


def test_a_call_that_ended_before_its_dial_was_noted_is_never_dialled_after_its_end(
    sessions: sessionmaker[Session],
) -> None:
    """A call the dialplan refuses at once can end, on the PBX's clock, before the worker
    writes down when its Originate was accepted (on its own clock, a few ms later)."""
    from datetime import timedelta

    from dispatcher.adapters.db.dial_queries import mark_dialed
    from dispatcher.adapters.db.engine import engine_of, raw_transaction

    call_id, attempt = queued_call(sessions), uuid.uuid4()
    ended = datetime.now(tz=UTC)
    with sessions.begin() as session:
        found = session.get(CallRow, call_id)
        assert found is not None
        found.status, found.attempt_id, found.ended_at = "failed", attempt, ended
    with raw_transaction(engine_of(sessions)) as cursor:
        mark_dialed(cursor, attempt, ended + timedelta(milliseconds=6))
    done = row(sessions, call_id)
    assert done.dialed_at is not None and done.dialed_at <= done.ended_at
