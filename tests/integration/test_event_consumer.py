"""The event consumer against the simulated PBX over TCP: live recording, reconnects, and
reconciliation of calls that ended while it was not listening."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.ami.manager import WorkerAMISession
from dispatcher.adapters.db.call_events import CallEventRepository
from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.tables import CallRow, ConsumerSessionRow
from dispatcher.config import AMIEndpoint, Settings
from dispatcher.devstack.embedded import EmbeddedPostgres
from dispatcher.usecases.dial_call import OriginateTarget, dial_call
from pbxsim import PBXSimulator, SimConfig
from pbxsim.cdr_pgsql import PgCdrWriter

if TYPE_CHECKING:
    from workers.event_consumer import EventConsumer


class Harness:
    def __init__(self, sessions: sessionmaker[Session], sim: PBXSimulator,
                 settings: Settings) -> None:
        self.sessions = sessions
        self.sim = sim
        self.settings = settings
        self.consumer: EventConsumer | None = None
        self.thread: threading.Thread | None = None
        self.ami = WorkerAMISession(AMIEndpoint("127.0.0.1", sim.port, "dispatcher", "secret"))

    def start_consumer(self) -> None:
        from workers.event_consumer import EventConsumer

        consumer = EventConsumer(self.settings, self.sessions, name="test")
        self.consumer = consumer
        self.thread = threading.Thread(target=consumer.run, daemon=True)
        self.thread.start()
        assert consumer.connected.wait(10), "consumer did not connect"

    def stop_consumer(self) -> None:
        assert self.consumer is not None and self.thread is not None
        self.consumer.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()

    def call(self, number: str, timeout: int = 30) -> uuid.UUID:
        call_id = uuid.uuid4()
        with self.sessions.begin() as session:
            session.add(CallRow(id=call_id, to_number="+98" + number[1:],
                                dial_string=f"PJSIP/{number}@carrier-trunk",
                                ring_timeout=timeout, variables={}, status="queued",
                                created_at=datetime.now(tz=UTC)))
        assert dial_call(self.sessions, call_id, lambda _t: self.ami, OriginateTarget()) == "dialed"
        return call_id

    def row(self, call_id: uuid.UUID) -> CallRow:
        with self.sessions() as session:
            found = CallRepository(session).get(call_id)
        assert found is not None
        return found

    def wait(self, call_id: uuid.UUID, predicate: Callable[[CallRow], bool],
             deadline: float = 15) -> CallRow:
        end = time.monotonic() + deadline
        while True:
            row = self.row(call_id)
            if predicate(row):
                return row
            assert time.monotonic() < end, f"gave up waiting: {row.status} {row.outcome}"
            time.sleep(0.05)


@pytest.fixture
def harness(sessions: sessionmaker[Session], settings: Settings,
            database_url: str) -> Iterator[Harness]:
    writer = PgCdrWriter(database_url)
    sim = PBXSimulator(SimConfig(users={"dispatcher": "secret"}, ring_delay=0.01,
                                 answer_delay=0.1, talk_time=0.3, cdr_sink=writer))
    sim.start()
    harness = Harness(sessions, sim, replace(
        settings, ami_port=sim.port, ami_username="dispatcher", ami_secret="secret",
        reconcile_grace=0.5, reconcile_interval=1.0))
    yield harness
    if harness.thread and harness.thread.is_alive():
        harness.stop_consumer()
    harness.ami.close()
    sim.stop()
    writer.close()


def final(row: CallRow) -> bool:
    return row.status in {"completed", "busy", "no-answer", "failed", "canceled"}


def test_live_events_drive_a_call_to_its_final_state(harness: Harness) -> None:
    harness.start_consumer()
    answered = harness.call("09121231001")
    busy = harness.call("09121232001")
    a = harness.wait(answered, final)
    assert (a.status, a.outcome, a.hangup_cause) == ("completed", "answered", 16)
    assert a.answered_at and a.ended_at and a.ended_at > a.answered_at
    b = harness.wait(busy, final)
    assert (b.status, b.sip_code) == ("busy", 486)
    from prometheus_client import REGISTRY

    events_read = REGISTRY.get_sample_value("dispatcher_consumer_events_read_total")
    assert events_read is not None and events_read > 0
    assert REGISTRY.get_sample_value("dispatcher_consumer_ami_connected") == 1


def test_calls_that_end_while_the_consumer_is_away_are_settled_from_the_cdr(
    harness: Harness,
) -> None:
    answered = harness.call("09121231001")
    busy = harness.call("09121232001")
    held = harness.call("09121235001")  # answers and stays up until we hang up
    time.sleep(1.0)  # both short calls end; nobody is listening
    harness.start_consumer()
    a = harness.wait(answered, final)
    assert (a.status, a.outcome) == ("completed", "answered") and a.answered_at
    assert harness.wait(busy, final).status == "busy"
    live = harness.wait(held, lambda r: r.status == "in-progress")
    assert live.answered_at is not None  # caught up from the live channel's state
    assert harness.ami.hangup(str(live.attempt_id))
    done = harness.wait(held, final)
    assert (done.status, done.outcome) == ("completed", "answered")


def test_a_dropped_socket_is_reconnected_and_the_gap_recorded(harness: Harness) -> None:
    harness.start_consumer()
    harness.sim.drop_sessions()
    end = time.monotonic() + 10
    while True:
        with harness.sessions() as session:
            epochs = list(session.scalars(select(ConsumerSessionRow).order_by(
                ConsumerSessionRow.id)))
        if len(epochs) >= 2 and epochs[0].disconnected_at is not None:
            break
        assert time.monotonic() < end, "consumer did not reconnect"
        time.sleep(0.1)
    harness.ami = WorkerAMISession(AMIEndpoint("127.0.0.1", harness.sim.port, "dispatcher",
                                               "secret"))
    after = harness.call("09121231001")
    assert harness.wait(after, final).status == "completed"


def test_a_call_that_ended_unobserved_and_unrecorded_is_marked_unresolved(
    harness: Harness,
) -> None:
    call_id = harness.call("09121231001")
    time.sleep(1.0)
    with harness.sessions.begin() as session:
        session.execute(text("DELETE FROM cdr"))  # as if the PBX kept no CDR
    harness.start_consumer()
    row = harness.wait(call_id, final)
    assert (row.status, row.outcome) == ("failed", "unresolved")
    assert row.ended_at is None  # when it ended is not known either


def test_two_consumers_at_once_write_each_event_once(harness: Harness) -> None:
    from workers.event_consumer import EventConsumer

    second = EventConsumer(harness.settings, harness.sessions, name="second")
    thread = threading.Thread(target=second.run, daemon=True)
    thread.start()
    harness.start_consumer()
    assert second.connected.wait(10)
    try:
        ids = [harness.call(f"0912123{n}001") for n in (1, 2, 3, 9)]
        rows = [harness.wait(call_id, final) for call_id in ids]
        assert [(r.status, r.outcome) for r in rows] == [
            ("completed", "answered"), ("busy", "busy"), ("failed", "congestion"),
            ("failed", "invalid-number")]
        with harness.sessions() as session:
            for call_id in ids:
                names = [e.name for e in CallEventRepository(session).events(call_id)]
                assert names.count("Hangup") == 1 and names.count("Newchannel") == 1
    finally:
        second.stop.set()
        thread.join(10)


def test_events_are_held_through_a_database_outage_and_written_after(
    harness: Harness, postgres: EmbeddedPostgres, database_url: str,
    sessions: sessionmaker[Session]
) -> None:
    """PostgreSQL away for 10 s: the API answers 503 with Retry-After, the consumer keeps
    reading AMI and writes the held events, in order, once the database is back."""
    from dataclasses import replace

    from sqlalchemy.engine import make_url

    from dispatcher.adapters.db.engine import make_engine, make_session_factory
    from dispatcher.usecases import api_keys
    from tests.support.faultproxy import FaultProxy
    from web import create_app
    from workers.event_consumer import EventConsumer

    url = make_url(database_url)
    socket_path = f"{url.query['host']}/.s.PGSQL.5432"
    proxy = FaultProxy(socket_path).start()
    via_proxy = url.set(host="127.0.0.1", port=proxy.port, query={})
    engine = make_engine(via_proxy.render_as_string(hide_password=False), pool_pre_ping=True)
    consumer = EventConsumer(harness.settings, make_session_factory(engine), name="outage")
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    key = api_keys.create_api_key(sessions, "outage")[1]
    api = create_app(replace(harness.settings, database_url=via_proxy.render_as_string(
        hide_password=False))).test_client()
    try:
        assert consumer.connected.wait(10)
        first = harness.call("09121231001")
        assert harness.wait(first, final).status == "completed"
        proxy.down()
        down_at = time.monotonic()
        answered = harness.call("09121231002")
        busy = harness.call("09121232002")
        refused = api.post("/v1/calls", json={"to": "09121231003"},
                           headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 503, refused.get_json()  # never a 500
        assert refused.headers["Retry-After"] and refused.get_json()["error"]["code"]
        time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))  # both end meanwhile
        assert harness.row(answered).status == "initiated"
        assert consumer.connected.is_set()
        proxy.up()
        a = harness.wait(answered, final)
        b = harness.wait(busy, final)
        assert (a.status, a.hangup_cause) == ("completed", 16)  # from the held events,
        assert (b.status, b.sip_code) == ("busy", 486)  # not from reconciliation
        assert consumer.connected.is_set()  # the AMI session was never dropped
    finally:
        consumer.stop.set()
        thread.join(10)
        proxy.stop()
        engine.dispose()
        api.application.extensions["dispatcher"].sessions.kw["bind"].dispose()


def test_events_held_when_the_ami_session_is_lost_too_are_still_written(
    harness: Harness, database_url: str
) -> None:
    """The database away, then the AMI session lost as well: what was read before the loss
    is written once the database is back, not dropped with the session (only the calls'
    final states would then come back, from the CDRs, without their events)."""
    from sqlalchemy.engine import make_url

    from dispatcher.adapters.db.engine import make_engine, make_session_factory
    from tests.support.faultproxy import FaultProxy
    from workers.event_consumer import EventConsumer

    url = make_url(database_url)
    proxy = FaultProxy(f"{url.query['host']}/.s.PGSQL.5432").start()
    via_proxy = url.set(host="127.0.0.1", port=proxy.port, query={})
    engine = make_engine(via_proxy.render_as_string(hide_password=False))
    consumer = EventConsumer(harness.settings, make_session_factory(engine), name="held")
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        assert consumer.connected.wait(10)
        proxy.down()
        cdrs_before = len(harness.sim.cdrs)
        answered, busy = harness.call("09121231004"), harness.call("09121232004")
        deadline = time.monotonic() + 10
        while len(harness.sim.cdrs) < cdrs_before + 2:  # both have ended
            assert time.monotonic() < deadline, "the calls never ended"
            time.sleep(0.05)
        wait_until_quiet(consumer_events_read)  # and the consumer has read their events
        harness.sim.drop_sessions()
        deadline = time.monotonic() + 10
        while not consumer.reconnect_delays:
            assert time.monotonic() < deadline, "the AMI session was never lost"
            time.sleep(0.05)
        proxy.up()
        for call_id in (answered, busy):
            harness.wait(call_id, final)
            deadline = time.monotonic() + 10
            while "Hangup" not in event_names(harness, call_id):
                assert time.monotonic() < deadline, event_names(harness, call_id)
                time.sleep(0.1)
    finally:
        consumer.stop.set()
        thread.join(10)
        proxy.stop()
        engine.dispose()


def consumer_events_read() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("dispatcher_consumer_events_read_total") or 0.0


def wait_until_quiet(sample: Callable[[], float], quiet: float = 0.5,
                     timeout: float = 10) -> None:
    """Until ``sample`` has not changed for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = sample(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "never quiet"
        time.sleep(0.05)
        if (now := sample()) != last:
            last, since = now, time.monotonic()


def event_names(harness: Harness, call_id: uuid.UUID) -> list[str]:
    with harness.sessions() as session:
        return [e.name for e in CallEventRepository(session).events(call_id)]


def test_a_slow_database_does_not_stop_the_consumer_reading(harness: Harness) -> None:
    """Asterisk drops an AMI client that stops reading; while a write waits on the database,
    events must still be read off the socket (and held, in order)."""
    from prometheus_client import REGISTRY

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    harness.start_consumer()
    stuck = harness.call("09121235001")  # answered, stays up until hung up
    channel = harness.wait(stuck, lambda r: r.status == "in-progress").channel
    with harness.sessions.begin() as blocker:  # a long transaction holding the call's row
        blocker.execute(select(CallRow).where(CallRow.id == stuck).with_for_update())
        read_before = sample("dispatcher_consumer_events_read_total")
        assert channel and harness.ami.hangup(channel)  # its end now waits on the lock
        others = [harness.call(f"0912123100{n}") for n in range(1, 4)]  # answered, 0.3 s
        deadline = time.monotonic() + 10
        while sample("dispatcher_consumer_events_read_total") - read_before < 30:
            assert time.monotonic() < deadline, "the consumer stopped reading"
            time.sleep(0.05)
        assert sample("dispatcher_consumer_events_held") > 0
        assert not any(final(harness.row(call)) for call in (stuck, *others))
    for call in (stuck, *others):  # the lock is gone: everything held is written
        assert harness.wait(call, final).outcome == "answered"
    assert harness.consumer is not None
    assert harness.consumer.connected.is_set()


def test_a_pbx_restart_is_survived_and_the_calls_it_killed_are_reported(
    harness: Harness,
) -> None:
    harness.start_consumer()
    held = harness.call("09121235001")  # answered, stays up
    ringing = harness.call("09121234001")  # rings until its timeout
    harness.wait(held, lambda r: r.status == "in-progress")
    harness.wait(ringing, lambda r: r.status == "ringing")
    with harness.sessions.begin() as session:
        session.execute(text("DELETE FROM cdr"))
    started = time.monotonic()
    harness.sim.restart()  # every channel vanishes without an event; every session drops
    end = started + 5
    while True:  # the consumer is back within 5 s
        with harness.sessions() as session:
            epochs = list(session.scalars(select(ConsumerSessionRow)))
        if len(epochs) >= 2:
            break
        assert time.monotonic() < end, "consumer not back within 5 s"
        time.sleep(0.05)
    for call_id in (held, ringing):
        row = harness.wait(call_id, final)
        assert (row.status, row.outcome) == ("failed", "unresolved")
    harness.ami.close()
    harness.ami = WorkerAMISession(AMIEndpoint("127.0.0.1", harness.sim.port, "dispatcher",
                                               "secret"))
    assert harness.wait(harness.call("09121231001"), final).status == "completed"


def test_an_answer_missed_while_reconnecting_is_proven_by_the_hangup_and_its_cdr(
    harness: Harness,
) -> None:
    """Real Asterisk showed it: a consumer that comes back after the answer sees only the
    Hangup (channel state Up) and the Cdr, and the call is still answered, not failed."""
    harness.settings = replace(harness.settings, reconcile_grace=60.0)  # events alone decide
    held = harness.call("09121235001")  # answers and stays up until we hang up
    time.sleep(0.6)  # it answered while nobody listened
    harness.start_consumer()
    attempt = harness.wait(held, lambda r: r.attempt_id is not None).attempt_id
    assert harness.row(held).answered_at is None  # the answer was not seen
    assert harness.ami.hangup(str(attempt))
    done = harness.wait(held, final)
    assert (done.status, done.outcome, done.hangup_cause) == ("completed", "answered", 16)
    assert done.answered_at is not None  # from the Cdr's AnswerTime
    assert done.dialed_at is not None and done.ended_at is not None
    assert done.answered_at <= done.ended_at


def test_a_session_lost_during_ringing_is_reconnected_at_once_every_time(
    harness: Harness,
) -> None:
    harness.start_consumer()
    consumer = harness.consumer
    assert consumer is not None
    for lost in range(1, 4):
        harness.ami = WorkerAMISession(AMIEndpoint("127.0.0.1", harness.sim.port,
                                                   "dispatcher", "secret"))
        ringing = harness.call("09121234001", timeout=2)  # rings out after 2 s
        harness.wait(ringing, lambda r: r.status == "ringing")
        harness.sim.drop_sessions()
        end = time.monotonic() + 10
        while len(consumer.reconnect_delays) < lost or not consumer.connected.is_set():
            assert time.monotonic() < end, "consumer did not reconnect"
            time.sleep(0.05)
        row = harness.wait(ringing, final)
        assert (row.status, row.outcome, row.hangup_cause) == ("no-answer", "no-answer", 19)
    # after every lost session the first delay again, not one that grew with each loss
    assert consumer.reconnect_delays == [0.5, 0.5, 0.5]


def test_a_running_consumer_tells_where_it_is_on_sigusr1_and_carries_on(
        database_url: str, tmp_path: Path) -> None:
    """An operator's first question about a consumer that writes nothing: every thread's
    stack goes to its log, and the process keeps running."""
    import os
    import signal
    import subprocess
    import sys

    from dispatcher.devstack.embedded import free_port

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DISPATCHER_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"DATABASE_URL": database_url, "DISPATCHER_AMI_HOST": "127.0.0.1",
            "DISPATCHER_AMI_PORT": str(free_port()), "DISPATCHER_AMI_SECRET": "secret",
            "DISPATCHER_CONSUMER_METRICS_PORT": "0", "DISPATCHER_LOG_FORMAT": "text"}
    log = tmp_path / "events.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "dispatcher"), "events"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "no AMI session" not in log.read_text():  # running its reconnect loop
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGUSR1)
        while "event_consumer.py" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert "(most recent call first)" in log.read_text()
        time.sleep(0.5)
        assert proc.poll() is None  # carried on
    finally:
        proc.terminate()
        proc.wait(10)
