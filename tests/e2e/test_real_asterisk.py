"""The dispatcher against a real Asterisk 22: what the simulator cannot show.

Two PBXes on 127.0.0.1: the dispatcher PBX runs exactly what ``dispatcher asterisk render``
writes (CDRs through ``cdr_pgsql`` into a PostgreSQL reached over TCP with a password), and the
carrier PBX runs what ``dispatcher asterisk remote-config`` prints, with a test number plan in
place of its physical lines. The whole stack (gunicorn, Celery worker and beat, the event
consumer) runs against them. Skipped unless ``DISPATCHER_TEST_ASTERISK`` names an Asterisk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.ami.client import AMIEventClient
from dispatcher.adapters.db.engine import make_engine, make_session_factory
from dispatcher.adapters.db.migrate import upgrade
from dispatcher.adapters.db.tables import CallRow
from dispatcher.adapters.redis.capacity import TrunkCapacity
from dispatcher.asterisk import confparse
from dispatcher.config import AMIEndpoint
from dispatcher.domain.status import FINAL_STATUSES
from dispatcher.usecases import api_keys
from tests.support.realpbx import (
    AsteriskUnavailable,
    Pbx,
    TcpPostgres,
    bundle_from_setting,
    carrier_files,
    free_port,
    live_channels,
    remove,
    rendered_files,
    rtp_range,
    short_root,
)
from tests.support.stackproc import (
    ProcessGroup,
    start_beat,
    start_consumer,
    start_web,
    start_worker,
)

pytestmark = pytest.mark.asterisk

BIN = Path(sys.executable).parent
WORKER_SECRET = "worker-" + uuid.uuid4().hex
EVENTS_SECRET = "events-" + uuid.uuid4().hex
CARRIER_SECRET = "carrier-" + uuid.uuid4().hex
CDR_PASSWORD = "cdr-" + uuid.uuid4().hex[:16]
TRUNK_PASSWORD = "trunk-" + uuid.uuid4().hex[:16]
LINES = 4
CALLER_ID = "+982191000000"


def national(plan: str, n: int = 1) -> str:
    """An 11-digit mobile number whose last four digits pick the carrier's behaviour."""
    return f"0912{n:03d}{plan}{n % 1000:03d}"


def e164(number: str) -> str:
    return "+98" + number[1:]


# --- the two PBXes -----------------------------------------------------------------------------

@dataclass
class CarrierWatch:
    """Counts at the carrier's own AMI: what reached the physical lines, and how many at once."""

    endpoint: AMIEndpoint
    invites: Counter[str] = field(default_factory=Counter)
    live: set[str] = field(default_factory=set)
    peak: int = 0
    causes: list[tuple[str, int]] = field(default_factory=list)  # (dialled number, cause)
    caller_ids: dict[str, str] = field(default_factory=dict)  # dialled number -> From number
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._client = AMIEventClient(self.endpoint)
        self._client.connect()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                event = self._client.next_event(timeout=0.2)
            except Exception:  # the carrier stopped at the end of the module
                return
            if event is None:
                continue
            channel = event.get("Channel") or ""
            if not channel.startswith(("PJSIP/call-dispatcher-", "PJSIP/disp01-")):
                continue
            if event.name == "Newchannel":
                self.invites[event.get("Exten") or ""] += 1
                self.caller_ids[event.get("Exten") or ""] = event.get("CallerIDNum") or ""
                self.live.add(channel)
                self.peak = max(self.peak, len(self.live))
            elif event.name == "Hangup":
                self.live.discard(channel)
                self.causes.append((event.get("Exten") or "", int(event.get("Cause") or 0)))

    def reset(self) -> None:
        self.invites.clear()
        self.peak = len(self.live)

    def close(self) -> None:
        self.stop.set()
        self._client.close()


@dataclass
class Pair:
    mode: str
    dispatcher: Pbx
    carrier: Pbx
    ami_port: int
    database_url: str
    redis_db: int
    watch: CarrierWatch
    render_env: dict[str, str]


@pytest.fixture(scope="session")
def asterisk_bundle() -> Iterator[Path]:
    root = short_root("astb")
    try:
        yield bundle_from_setting(root)
    except AsteriskUnavailable as exc:
        pytest.skip(str(exc))
    finally:
        remove(root)


@pytest.fixture(scope="session")
def cdr_postgres(asterisk_bundle: Path) -> Iterator[TcpPostgres]:
    root = short_root("astpg")
    server = TcpPostgres(root)
    server.start()
    server.execute("postgres", f"CREATE ROLE cdr LOGIN PASSWORD '{CDR_PASSWORD}'")
    yield server
    server.stop()
    remove(root)


def _database(server: TcpPostgres, name: str) -> str:
    server.execute("postgres", f'CREATE DATABASE "{name}"')
    url = server.url(name)
    upgrade(url)
    env = {"DATABASE_URL": url, "ASTERISK_CDR_DATABASE_URL": server.url(name, "cdr",
                                                                          CDR_PASSWORD)}
    out = subprocess.run([str(BIN / "dispatcher"), "asterisk", "cdr-table", "--apply"],
                         env={**_base_env(), **env}, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return url


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("DISPATCHER_", "ASTERISK_", "TRUNK_", "SIP_", "CARRIER_"))
            and k not in ("DATABASE_URL", "REDIS_URL")}


def start_pair(bundle: Path, server: TcpPostgres, mode: str, redis_db: int) -> Pair:
    database_url = _database(server, f"calls_{mode}")
    ours, theirs = free_port(), free_port()
    ami_port, carrier_ami = free_port(), free_port()
    env = {
        **_base_env(),
        "TRUNK_MODE": mode,
        "DATABASE_URL": database_url,
        "ASTERISK_CDR_DATABASE_URL": server.url(f"calls_{mode}", "cdr", CDR_PASSWORD),
        "DISPATCHER_AMI_SECRET": WORKER_SECRET,
        "DISPATCHER_AMI_EVENTS_USERNAME": "dispatcher-events",
        "DISPATCHER_AMI_EVENTS_SECRET": EVENTS_SECRET,
        "DISPATCHER_AMI_PORT": str(ami_port),
        "AMI_BIND": "127.0.0.1", "AMI_PERMIT": "127.0.0.1/32",
        "CARRIER_HOST": "127.0.0.1", "CARRIER_PORT": str(theirs),
        "CARRIER_MATCH": "127.0.0.1",
        "SIP_PORT": str(ours), "SIP_BIND": "127.0.0.1", "SIP_EXTERNAL_ADDRESS": "127.0.0.1",
        "SIP_LOCAL_NETS": "127.0.0.0/8",
        "TRUNK_USERNAME": "disp01", "TRUNK_PASSWORD": TRUNK_PASSWORD,
        "TRUNK_QUALIFY_SECONDS": "10",
        "DISPATCHER_DIAL_TEMPLATE": "Local/{national}@dispatcher-outbound",
        "DISPATCHER_TRUNK_NAME": "carrier-trunk",
        "DISPATCHER_TRUNK_LINES": str(LINES),
        "DISPATCHER_DEFAULT_CALLER_ID": CALLER_ID,
        "DISPATCHER_MAX_CALL_SECONDS": "60",
    }
    rtp_ours, rtp_theirs = rtp_range(), rtp_range()
    env["RTP_START"], env["RTP_END"] = str(rtp_ours[0]), str(rtp_ours[1])
    root = short_root(f"ast{mode[0]}")
    out = root / "rendered"
    done = subprocess.run([str(BIN / "dispatcher"), "asterisk", "render", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    files = rendered_files(out)
    binds = [line for line in files["pjsip.conf"].splitlines() if line.startswith("bind =")]
    assert binds and all(b.startswith("bind = 127.0.0.1:") for b in binds), binds  # loopback
    remote = subprocess.run([str(BIN / "dispatcher"), "asterisk", "remote-config",
                             "--syntax", "pjsip"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert remote.returncode == 0, remote.stderr
    carrier = Pbx(bundle, root / "c", "carrier", carrier_files(
        remote.stdout, sip_port=theirs, ami_port=carrier_ami, rtp=rtp_theirs,
        ami_secret=CARRIER_SECRET))
    dispatcher = Pbx(bundle, root / "d", "dispatcher", files)
    for pbx in (carrier, dispatcher):
        pbx.write()
        pbx.start()
    watch = CarrierWatch(AMIEndpoint("127.0.0.1", carrier_ami, "carrier", CARRIER_SECRET))
    watch.start()
    return Pair(mode, dispatcher, carrier, ami_port, database_url, redis_db, watch, env)


def stop_pair(pair: Pair) -> None:
    pair.watch.close()
    for pbx in (pair.dispatcher, pair.carrier):
        pbx.stop()
    remove(pair.dispatcher.root.parent)


@pytest.fixture(scope="module")
def peer(asterisk_bundle: Path, cdr_postgres: TcpPostgres) -> Iterator[Pair]:
    pair = start_pair(asterisk_bundle, cdr_postgres, "peer", redis_db=11)
    _wait_qualified(pair)
    yield pair
    stop_pair(pair)


def _wait_qualified(pair: Pair, timeout: float = 30) -> None:
    """Calls before the trunk's first OPTIONS answer would fail with no channel."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = pair.dispatcher.cli("pjsip show contacts", check=False)
        if "Avail" in out:
            return
        time.sleep(0.3)
    raise AssertionError(f"trunk never qualified:\n{out}\n{pair.dispatcher.tail()}")


# --- the stack ---------------------------------------------------------------------------------

@dataclass
class RealStack:
    pair: Pair
    base: str
    key: str
    sessions: sessionmaker[Session]
    group: ProcessGroup
    env: dict[str, str]

    def lines(self) -> str:
        """The trunk's line state in Redis, for a failure's message: who holds a line, who
        waits, and what admission sees."""
        trunk = self.env.get("DISPATCHER_TRUNK_NAME", "carrier-trunk")
        capacity = TrunkCapacity(redis.Redis.from_url(self.env["REDIS_URL"]), trunk, LINES)
        return (f"{capacity.usage()}; holders {capacity.holders()}; "
                f"waiting {capacity.waiting()}")

    def consumer_state(self) -> str:
        """Where a quiet consumer is, for a failure's message: every thread's stack (the
        consumer dumps them on SIGUSR1), its log, and what the database is doing."""
        proc = self.group.procs.get("events")
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGUSR1)
            time.sleep(1)
        with self.sessions() as session:
            activity = session.execute(text(
                "SELECT pid, state, wait_event_type, wait_event, now() - xact_start AS age,"
                " left(query, 120) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state <> 'idle'")).all()
        return (f"{self.group.tail('events', 120)}\nPBX: {self.pair.dispatcher.tail(15)}\n"
                f"database:\n" + "\n".join(map(str, activity)))

    def post(self, body: dict[str, object]) -> requests.Response:
        return requests.post(f"{self.base}/v1/calls", json=body, timeout=10,
                             headers={"Authorization": f"Bearer {self.key}"})

    def call(self, number: str, **extra: object) -> str:
        reply = self.post({"to": e164(number), **extra})
        assert reply.status_code == 202, reply.text
        return str(reply.json()["id"])

    def cancel(self, call_id: str) -> requests.Response:
        return requests.post(f"{self.base}/v1/calls/{call_id}/cancel", timeout=10,
                             headers={"Authorization": f"Bearer {self.key}"})

    def row(self, call_id: str) -> CallRow:
        with self.sessions() as session:
            row = session.get(CallRow, uuid.UUID(call_id))
            assert row is not None
            return row

    def wait(self, call_id: str, until: Callable[[CallRow], bool], timeout: float = 60
             ) -> CallRow:
        deadline = time.monotonic() + timeout
        while True:
            row = self.row(call_id)
            if until(row):
                return row
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"call {call_id} is {row.status}/{row.outcome} after {timeout}s\n"
                    f"lines: {self.lines()}\nevents:\n{self.group.tail('events')}\n"
                    f"worker:\n{self.group.tail('worker')}\nweb:\n{self.group.tail('web')}\n"
                    f"beat:\n{self.group.tail('beat')}")
            time.sleep(0.2)

    def wait_final(self, call_id: str, timeout: float = 60) -> CallRow:
        return self.wait(call_id, lambda r: r.status in FINAL_STATUSES and r.outcome
                         != "unresolved", timeout)

    def event_names(self, call_id: str) -> list[str]:
        with self.sessions() as session:
            return list(session.scalars(text(
                "SELECT name FROM call_events WHERE call_id = :c ORDER BY event_at"),
                {"c": call_id}))


@pytest.fixture
def stack_factory(peer: Pair, redis_url: str, tmp_path: Path
                  ) -> Iterator[Callable[..., RealStack]]:
    started: list[RealStack] = []

    def start(pair: Pair = peer, **overrides: str) -> RealStack:
        redis_db_url = redis_url.rsplit("/", 1)[0] + f"/{pair.redis_db}"
        redis.Redis.from_url(redis_db_url).flushdb()
        env = {
            **_base_env(),
            **{k: v for k, v in pair.render_env.items()
               if k.startswith("DISPATCHER_") or k == "DATABASE_URL"},
            "REDIS_URL": redis_db_url,
            "DISPATCHER_AMI_HOST": "127.0.0.1",
            "DISPATCHER_QUEUE_NAME": f"real-{pair.mode}",
            "DISPATCHER_RECONCILE_INTERVAL": "3",
            "DISPATCHER_RECONCILE_GRACE": "3",
            "DISPATCHER_LOG_FORMAT": "text",
            **overrides,
        }
        logdir = tmp_path / f"stack{len(started)}"
        logdir.mkdir()
        group = ProcessGroup(logdir, env)
        engine = make_engine(env["DATABASE_URL"])
        sessions = make_session_factory(engine)
        start_consumer(group)
        start_worker(group, env["DISPATCHER_QUEUE_NAME"], concurrency=4)
        start_beat(group, logdir / "beat-schedule")
        base = start_web(group, free_port())
        key = api_keys.create_api_key(sessions, "real-asterisk")[1]
        stack = RealStack(pair, base, key, sessions, group, env)
        started.append(stack)
        _wait_watched(stack)
        return stack

    yield start
    for stack in started:
        stack.group.stop_all()


def _wait_watched(stack: RealStack, timeout: float = 20) -> None:
    """Admission opens once the consumer is connected to the PBX: wait for that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trunks = requests.get(f"{stack.base}/v1/trunks", timeout=5,
                              headers={"Authorization": f"Bearer {stack.key}"}).json()["data"]
        if all(t["watched"] for t in trunks):
            return
        stack.group.check_alive()
        time.sleep(0.2)
    raise AssertionError(f"the consumer never watched the PBX:\n{stack.group.tail('events')}")


def _wait_logged(stack: RealStack, text: str, count: int, timeout: float = 30) -> None:
    """Until the consumer's log holds ``text`` on at least ``count`` lines."""
    path = stack.group.logdir / "events.log"
    deadline = time.monotonic() + timeout
    while sum(text in line for line in path.read_text().splitlines()) < count:
        assert time.monotonic() < deadline, (
            f"{count} x {text!r} never logged:\n{stack.consumer_state()}")
        stack.group.check_alive()
        time.sleep(0.2)


# --- scenarios ---------------------------------------------------------------------------------

def test_the_rendered_configuration_boots_without_errors(peer: Pair) -> None:
    assert_quiet_boot(peer)


def assert_quiet_boot(pair: Pair) -> None:
    """No ERROR line, and exactly the modules modules.conf lists are running (autoload off)."""
    assert pair.dispatcher.errors() == [], "\n".join(pair.dispatcher.errors())
    wanted = confparse.parse((pair.dispatcher.etc / "modules.conf").read_text())
    listed = wanted.section("modules")
    loaded = set(listed.getall("load")) | set(listed.getall("require"))
    assert {"chan_pjsip.so", "app_dial.so", "cdr_manager.so", "cdr_pgsql.so"} <= loaded
    running = pair.dispatcher.modules()
    assert {name: running.get(name) for name in loaded if running.get(name) != "Running"} == {}
    assert set(running) - loaded == set()


OUTCOMES = [
    # plan digit, expected (status, outcome, hangup cause, SIP code)
    ("1", ("completed", "answered", 16, None)),
    ("2", ("busy", "busy", 17, 486)),
    ("3", ("failed", "congestion", 34, 503)),
    ("6", ("failed", "rejected", 21, 403)),
    ("8", ("no-answer", "no-answer", 18, 408)),
    ("9", ("failed", "invalid-number", 1, 404)),
]


def test_every_outcome_with_its_cause_and_sip_code(stack_factory: Callable[..., RealStack],
                                                   peer: Pair) -> None:
    stack = stack_factory()
    ids = {plan: stack.call(national(plan, 10 + i)) for i, (plan, _) in enumerate(OUTCOMES)}
    no_answer = stack.call(national("4", 20), timeout=5)
    for plan, expected in OUTCOMES:
        row = stack.wait_final(ids[plan])
        assert (row.status, row.outcome, row.hangup_cause, row.sip_code) == expected, plan
        assert row.dialed_at is not None and row.ended_at is not None
        assert row.ended_at >= row.dialed_at
    answered = stack.row(ids["1"])
    assert answered.answered_at is not None
    assert answered.dialed_at <= answered.answered_at <= answered.ended_at
    row = stack.wait_final(no_answer, timeout=30)
    assert (row.status, row.outcome, row.hangup_cause) == ("no-answer", "no-answer", 19)
    assert 4.5 <= (row.ended_at - row.dialed_at).total_seconds() <= 8
    # every number reached the carrier exactly once, with our caller ID (no "Anonymous")
    for number in [national(plan, 10 + i) for i, (plan, _) in enumerate(OUTCOMES)]:
        assert peer.watch.invites[number] == 1, number
        assert peer.watch.caller_ids[number] == CALLER_ID, peer.watch.caller_ids


def test_cancel_while_ringing_and_once_answered(stack_factory: Callable[..., RealStack]
                                                ) -> None:
    stack = stack_factory()
    ringing = stack.call(national("4", 30))
    answered = stack.call(national("5", 31))
    stack.wait(ringing, lambda r: r.status == "ringing")
    stack.wait(answered, lambda r: r.status == "in-progress")
    assert stack.cancel(ringing).status_code in (200, 202)
    assert stack.cancel(answered).status_code in (200, 202)
    row = stack.wait_final(ringing)
    assert (row.status, row.outcome, row.answered_at) == ("canceled", "canceled", None)
    row = stack.wait_final(answered)
    # Once answered, a cancel hangs up a call that happened: it is completed (as Twilio says).
    assert (row.status, row.outcome) == ("completed", "answered")
    assert row.answered_at is not None and row.ended_at > row.answered_at


def test_twelve_calls_on_four_lines(stack_factory: Callable[..., RealStack], peer: Pair
                                    ) -> None:
    stack = stack_factory()
    peer.watch.reset()
    numbers = [national("1", 100 + i) for i in range(12)]
    ids = [stack.call(n) for n in numbers]
    rows = [stack.wait_final(call_id, timeout=90) for call_id in ids]
    assert [(r.status, r.outcome) for r in rows] == [("completed", "answered")] * 12
    assert peer.watch.peak <= LINES
    assert all(peer.watch.invites[n] == 1 for n in numbers)


def test_the_dialplan_caps_a_stack_that_believes_in_more_lines(
        stack_factory: Callable[..., RealStack], peer: Pair) -> None:
    stack = stack_factory(DISPATCHER_TRUNK_LINES=str(2 * LINES))
    peer.watch.reset()
    numbers = [national("5", 200 + i) for i in range(2 * LINES)]
    ids = [stack.call(n) for n in numbers]
    rows = [stack.wait(i, lambda r: r.status in FINAL_STATUSES or r.status == "in-progress")
            for i in ids]
    up = [r for r in rows if r.status == "in-progress"]
    refused = [r for r in rows if r.status in FINAL_STATUSES]
    assert len(up) == LINES and peer.watch.peak == LINES
    assert {(r.status, r.outcome, r.hangup_cause) for r in refused} == {
        ("failed", "congestion", 34)}
    for row in refused:  # refused before the carrier saw them
        assert peer.watch.invites[national_of(row)] == 0
    for row in up:
        stack.cancel(str(row.id))
    for row in up:
        assert stack.wait_final(str(row.id)).status == "completed"


def national_of(row: CallRow) -> str:
    return "0" + row.to_number[3:]


def test_a_client_variable_cannot_lift_the_dialplan_cap(stack_factory: Callable[..., RealStack],
                                                       peer: Pair) -> None:
    stack = stack_factory()
    refused = stack.post({"to": e164(national("5", 300)),
                          "variables": {"TRUNK_LINES": "9999"}})
    assert refused.status_code == 422 and "TRUNK_LINES" in refused.text
    # Past the API, straight to AMI as a compromised worker could: the cap still holds.
    peer.watch.reset()
    client = AMIEventClient(AMIEndpoint("127.0.0.1", peer.ami_port, "dispatcher",
                                        WORKER_SECRET), events="off")
    client.connect()
    try:
        for i in range(LINES + 2):
            attempt = str(uuid.uuid4())
            client.request([
                ("Action", "Originate"), ("ChannelId", attempt),
                ("Channel", f"Local/{national('5', 310 + i)}@dispatcher-outbound"),
                ("Context", "dispatcher-answered"), ("Exten", "s"), ("Priority", "1"),
                ("Timeout", "10000"), ("Async", "true"),
                ("Variable", "TRUNK_LINES=9999"), ("Variable", "__TRUNK_LINES=9999"),
                ("Variable", "MAX_CALL_SECONDS=0")])
        time.sleep(4)
        assert peer.watch.peak <= LINES
    finally:
        client.close()
        peer.dispatcher.cli("channel request hangup all", check=False)


def test_a_call_from_the_carrier_dead_ends(peer: Pair) -> None:
    dead_end(peer, "call-dispatcher")


def dead_end(pair: Pair, endpoint: str) -> None:
    """A call the carrier sends us lands in from-carrier and is refused (21): our trunk is
    never a way out."""
    pair.watch.causes.clear()
    pair.carrier.cli(f"channel originate PJSIP/09121234567@{endpoint} application Wait 5",
                     check=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not pair.watch.causes:
        time.sleep(0.2)
    assert [cause for _, cause in pair.watch.causes] == [21]  # 403 Forbidden, from-carrier
    assert live_channels(pair.dispatcher) == []


def test_a_consumer_killed_while_calls_ring_answer_and_end_settles_them_all(
        stack_factory: Callable[..., RealStack]) -> None:
    stack = stack_factory()
    ids = {plan: stack.call(national(plan, 400 + i))
           for i, plan in enumerate(["1", "2", "4", "5", "6"])}
    stack.wait(ids["4"], lambda r: r.status == "ringing")
    stack.group.stop("events", signal.SIGKILL)
    time.sleep(6)  # the answered call talks and ends, busy and rejected end: all unobserved
    stack.cancel(ids["5"])  # its hangup task still goes out: the worker does not need events
    start_consumer(stack.group)
    answered = stack.wait_final(ids["1"])
    assert (answered.status, answered.outcome) == ("completed", "answered")
    assert answered.answered_at is not None and answered.ended_at is not None
    assert 1 <= (answered.ended_at - answered.answered_at).total_seconds() <= 5
    # settled from cdr_pgsql's row, whose float columns carry the microseconds
    assert (answered.answered_at.microsecond, answered.ended_at.microsecond) != (0, 0)
    assert stack.wait_final(ids["2"]).status == "busy"
    assert stack.wait_final(ids["6"]).outcome == "rejected"
    held = stack.wait_final(ids["5"])
    assert (held.status, held.outcome) == ("completed", "answered")
    stack.cancel(ids["4"])
    assert stack.wait_final(ids["4"]).status == "canceled"


def test_a_pbx_restart_mid_call_settles_the_calls_and_the_consumer_is_back_at_once(
        stack_factory: Callable[..., RealStack], peer: Pair) -> None:
    stack = stack_factory()
    ids = [stack.call(national("5", 500 + i)) for i in range(2)]
    for call_id in ids:
        stack.wait(call_id, lambda r: r.status == "in-progress")
    for restart in range(2):  # the second loss once failed to reset the reconnect delay
        peer.dispatcher.stop()
        time.sleep(2)
        peer.dispatcher.start()
        _wait_qualified(peer)
        # Wait for the consumer's own word that it is connected to this new instance: the
        # watched mark outlives a short outage, and a consumer between two retries can miss
        # an instance that lives only a second or two, so without this the next stop could
        # hit a PBX it never saw (and the log below miss a loss).
        _wait_logged(stack, "event consumer connected", restart + 2)
        _wait_watched(stack)
        if restart == 0:
            for call_id in ids:
                row = stack.wait(call_id, lambda r: r.status in FINAL_STATUSES, timeout=60)
                assert (row.status, row.outcome) == ("completed", "answered")
                assert row.answered_at is not None and row.ended_at is not None
    log = (stack.group.logdir / "events.log").read_text().splitlines()
    losses = [line.rstrip() for line in log if "reconnecting in " in line]
    assert len(losses) >= 2
    for line in losses:  # right after each lost session: the shortest delay, every time
        assert line.endswith("reconnecting in 0.5s"), line
    retries = [float(line.rstrip().rsplit("retrying in ", 1)[1].rstrip("s"))
               for line in log if "retrying in " in line]
    assert max(retries, default=0) <= 2.0  # while the PBX is away: a try every 2 s at most
    after = stack.call(national("1", 510))
    assert stack.wait_final(after).status == "completed"


@pytest.fixture(scope="module")
def register(asterisk_bundle: Path, cdr_postgres: TcpPostgres, peer: Pair) -> Iterator[Pair]:
    pair = start_pair(asterisk_bundle, cdr_postgres, "register", redis_db=12)
    yield pair
    stop_pair(pair)


def test_register_mode_registers_and_carries_calls(stack_factory: Callable[..., RealStack],
                                                   register: Pair) -> None:
    deadline = time.monotonic() + 30
    while "Registered" not in (out := register.dispatcher.cli("pjsip show registrations",
                                                             check=False)):
        assert time.monotonic() < deadline, f"never registered:\n{out}"
        time.sleep(0.3)
    _wait_qualified(register)
    stack = stack_factory(register)
    answered, busy = stack.call(national("1", 600)), stack.call(national("2", 601))
    assert (stack.wait_final(answered).status, stack.wait_final(busy).sip_code) == (
        "completed", 486)
    assert_quiet_boot(register)
    dead_end(register, "disp01")
