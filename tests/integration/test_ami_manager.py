"""WorkerAMISession (pyst2 wrapped) against a scripted AMI peer over real TCP.

What matters: every wait ends by its deadline, a doubtful Originate is reported as "outcome
unknown" and never re-sent, a confused session is thrown away, and hostile values never reach
the socket.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
import types
import uuid
from collections.abc import Iterator

import pytest

from dispatcher.adapters.ami import session_cache
from dispatcher.adapters.ami.errors import (
    AMIActionFailed,
    AMIAuthError,
    AMIOutcomeUnknown,
    AMIUnavailable,
)
from dispatcher.adapters.ami.manager import WorkerAMISession
from dispatcher.adapters.ami.originate import InvalidOriginate, OriginateRequest
from dispatcher.adapters.ami.protocol import AMIMessage, UnsafeAMIValue
from dispatcher.adapters.ami.session_cache import process_session, reset_process_session
from dispatcher.config import AMIEndpoint
from tests.support.fake_ami import (
    FakeAMI,
    PeerConn,
    close_mid_message,
    default_reply,
    error_reply,
    free_port,
    request,
    silent,
    wrong_action_id,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ACTION_TIMEOUT = 0.5


@pytest.fixture
def peer() -> Iterator[FakeAMI]:
    fake = FakeAMI().start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    reset_process_session()
    yield
    reset_process_session()


def endpoint(port: int, secret: str = "s", **kw: float) -> AMIEndpoint:
    settings = {"connect_timeout": 1.0, "action_timeout": ACTION_TIMEOUT, "ping_interval": 20.0}
    settings.update(kw)
    return AMIEndpoint("127.0.0.1", port, "u", secret, **settings)


def test_login_is_explicit_with_events_off_and_uuid_action_id(peer: FakeAMI) -> None:
    session = WorkerAMISession(endpoint(peer.port))
    try:
        assert session.connected
        (login,) = peer.actions()
        assert [k for k, _ in login.items] == ["Action", "ActionID", "Username", "Secret",
                                                 "Events"]
        assert login["Events"] == "off" and login["Username"] == "u" and login["Secret"] == "s"
        assert UUID_RE.match(login["ActionID"])
    finally:
        session.close()
    assert "topsecret" not in repr(endpoint(peer.port, secret="topsecret"))


def test_originate_success_sends_exactly_the_request_headers(peer: FakeAMI) -> None:
    session = WorkerAMISession(endpoint(peer.port))
    req = request()
    assert session.originate(req) is None
    (sent,) = peer.actions("Originate")
    assert list(sent.items) == req.headers()
    assert sent["ActionID"] == sent["ChannelId"] == req.action_id
    assert session.connected
    # the wire bytes are exactly the two messages, nothing more
    assert peer.raw_bytes().count(b"\r\n\r\n") == 2
    session.close()


def test_error_reply_raises_action_failed_and_keeps_session(peer: FakeAMI) -> None:
    peer.handler = error_reply("Extension does not exist.")
    session = WorkerAMISession(endpoint(peer.port))
    with pytest.raises(AMIActionFailed) as info:
        session.originate(request())
    assert info.value.message == "Extension does not exist."
    assert session.connected
    peer.handler = default_reply
    session.ping()
    assert peer.connections == 1
    session.close()


def test_silent_peer_gives_outcome_unknown_within_deadline_and_poisons(peer: FakeAMI) -> None:
    ep = endpoint(peer.port)
    first = process_session(ep)
    peer.handler = silent
    start = time.monotonic()
    with pytest.raises(AMIOutcomeUnknown):
        first.originate(request())
    elapsed = time.monotonic() - start
    assert ACTION_TIMEOUT * 0.9 <= elapsed < ACTION_TIMEOUT + 1.0
    assert not first.connected
    with pytest.raises(AMIUnavailable):  # a poisoned session refuses to write
        first.ping()
    peer.handler = default_reply
    second = process_session(ep)
    assert second is not first and second.connected
    assert peer.connections == 2
    second.ping()
    # the Originate was never re-sent on the new connection
    assert len(peer.actions("Originate")) == 1
    # and the old connection was shut down by us
    peer.wait_for(lambda: peer.conns[0].closed)


def test_wrong_action_id_gives_outcome_unknown_and_poisons(peer: FakeAMI) -> None:
    peer.handler = wrong_action_id
    session = process_session(endpoint(peer.port))
    with pytest.raises(AMIOutcomeUnknown):
        session.originate(request())
    assert not session.connected
    peer.handler = default_reply
    assert process_session(endpoint(peer.port)) is not session


def test_close_mid_message_gives_outcome_unknown(peer: FakeAMI) -> None:
    peer.handler = close_mid_message
    session = WorkerAMISession(endpoint(peer.port))
    start = time.monotonic()
    with pytest.raises(AMIOutcomeUnknown):
        session.originate(request())
    assert time.monotonic() - start < ACTION_TIMEOUT + 1.0
    assert not session.connected


def test_connection_lost_before_writing_is_unavailable(peer: FakeAMI) -> None:
    session = WorkerAMISession(endpoint(peer.port))
    peer.conns[0].close()
    peer.wait_for(lambda: not session.connected)
    with pytest.raises(AMIUnavailable) as info:
        session.originate(request())
    assert not isinstance(info.value, AMIOutcomeUnknown)
    assert peer.actions("Originate") == []


def test_connection_refused_is_unavailable_quickly() -> None:
    start = time.monotonic()
    with pytest.raises(AMIUnavailable) as info:
        WorkerAMISession(endpoint(free_port()))
    assert not isinstance(info.value, AMIAuthError)
    assert time.monotonic() - start < 1.0
    assert socket.getdefaulttimeout() is None  # the global default was restored


def test_no_banner_is_unavailable_within_connect_timeout() -> None:
    peer = FakeAMI(banner=None).start()
    try:
        start = time.monotonic()
        with pytest.raises(AMIUnavailable):
            WorkerAMISession(endpoint(peer.port, connect_timeout=0.4))
        assert time.monotonic() - start < 1.5
        assert peer.actions() == []
    finally:
        peer.stop()


def test_auth_failure_is_auth_error() -> None:
    peer = FakeAMI(auth_delay=0.2).start()
    try:
        with pytest.raises(AMIAuthError):
            WorkerAMISession(endpoint(peer.port, secret="wrong"))
        with pytest.raises(AMIUnavailable):  # AMIAuthError is an AMIUnavailable too
            process_session(endpoint(peer.port, secret="wrong"))
    finally:
        peer.stop()


def test_injection_never_reaches_the_socket_and_does_not_poison(peer: FakeAMI) -> None:
    class Tampered(OriginateRequest):
        def headers(self) -> list[tuple[str, str]]:
            return [("Action", "Originate"), ("ActionID", self.action_id),
                    ("Channel", self.channel),
                    ("CallerID", "Alice\r\n\r\nAction: Command\r\nCommand: core stop now"),
                    ("ChannelId", self.action_id), ("Async", "true")]

    session = WorkerAMISession(endpoint(peer.port))
    before = peer.raw_bytes()
    with pytest.raises(InvalidOriginate) as info:
        session.originate(Tampered(**vars(request())))
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError):
        session.hangup("PJSIP/x\r\n\r\nAction: Command")
    with pytest.raises(ValueError):
        session.hangup("/.*/")
    with pytest.raises(UnsafeAMIValue):
        session._action([("Action", "Ping"), ("ActionID", "a\nb")])
    with pytest.raises(UnsafeAMIValue):
        session._action([("Action\n", "Ping"), ("ActionID", str(uuid.uuid4()))])
    time.sleep(0.1)
    assert peer.raw_bytes() == before
    assert [m.get("Action") for m in peer.actions()] == ["Login"]
    assert session.connected
    session.ping()
    assert peer.connections == 1
    session.close()


def test_hangup_true_false_and_cause(peer: FakeAMI) -> None:
    session = WorkerAMISession(endpoint(peer.port))
    assert session.hangup("PJSIP/carrier-trunk-00000002") is True
    assert session.hangup("missing") is False
    hangups = peer.actions("Hangup")
    assert [(m["Channel"], m["Cause"]) for m in hangups] == [
        ("PJSIP/carrier-trunk-00000002", "16"), ("missing", "16")]
    peer.handler = error_reply("Permission denied")
    with pytest.raises(AMIActionFailed):
        session.hangup("PJSIP/carrier-trunk-00000002", cause=21)
    session.close()


def test_close_never_blocks_even_while_peer_is_silent(peer: FakeAMI) -> None:
    peer.handler = silent
    session = WorkerAMISession(endpoint(peer.port))
    start = time.monotonic()
    session.close()
    session.close()
    assert time.monotonic() - start < 0.2
    assert not session.connected
    assert peer.actions("Logoff") == []


def test_interrupt_while_waiting_poisons(peer: FakeAMI) -> None:
    """A Celery soft time limit arrives as an exception inside the wait; the late reply must
    not be handed to the next action (pyst2 defect D2, ``docs/ami-notes.md#d2``)."""

    class SoftTimeLimit(Exception):
        pass

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        raise SoftTimeLimit()

    peer.handler = silent
    session = WorkerAMISession(endpoint(peer.port, action_timeout=3.0))
    old = signal.signal(signal.SIGUSR1, on_signal)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        timer.start()
        start = time.monotonic()
        with pytest.raises((SoftTimeLimit, AMIOutcomeUnknown)):
            session.originate(request())
        assert time.monotonic() - start < 1.5
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, old)
    assert not session.connected


def test_process_session_is_cached_and_pings_only_when_idle(peer: FakeAMI) -> None:
    ep = endpoint(peer.port, ping_interval=5.0)
    first = process_session(ep)
    assert process_session(ep) is first
    assert peer.actions("Ping") == []
    first.last_used -= 10  # pretend it sat idle for longer than ping_interval
    assert process_session(ep) is first
    assert len(peer.actions("Ping")) == 1
    assert peer.connections == 1


def test_process_session_replaces_an_idle_session_that_fails_its_ping(peer: FakeAMI) -> None:
    ep = endpoint(peer.port, ping_interval=5.0)
    first = process_session(ep)
    first.last_used -= 10
    calls = {"n": 0}

    def after_first_ping(conn: PeerConn, msg: AMIMessage) -> None:
        calls["n"] += 1

    peer.handler = after_first_ping  # silent, but counted
    # the ping is bounded; the replacement's login answers normally
    start = time.monotonic()
    second = process_session(ep)
    assert time.monotonic() - start < ACTION_TIMEOUT + 1.0
    assert second is not first and second.connected and not first.connected
    assert calls["n"] == 1 and peer.connections == 2


def test_process_session_rebuilds_after_fork_without_touching_parent_socket(
    peer: FakeAMI, monkeypatch: pytest.MonkeyPatch
) -> None:
    ep = endpoint(peer.port)
    parent = process_session(ep)
    monkeypatch.setattr(session_cache, "os", types.SimpleNamespace(getpid=lambda: os.getpid() + 1))
    child = process_session(ep)
    assert child is not parent and child.connected
    assert peer.connections == 2
    # the inherited session is forgotten quietly: no Logoff, no shutdown from the "child"
    assert peer.actions("Logoff") == []
    assert not peer.conns[0].closed
    assert not parent.connected


def test_process_session_rebuilds_when_endpoint_changes(peer: FakeAMI) -> None:
    first = process_session(endpoint(peer.port))
    second = process_session(endpoint(peer.port, action_timeout=0.7))
    assert second is not first and not first.connected


def test_reset_process_session_drops_the_cache(peer: FakeAMI) -> None:
    first = process_session(endpoint(peer.port))
    reset_process_session()
    assert not first.connected
    assert process_session(endpoint(peer.port)) is not first
    assert peer.actions("Logoff") == []


def test_action_ids_are_fresh_uuids(peer: FakeAMI) -> None:
    session = WorkerAMISession(endpoint(peer.port))
    session.ping()
    session.ping()
    session.hangup("missing")
    ids = [m["ActionID"] for m in peer.actions()]
    assert len(set(ids)) == len(ids) == 4 and all(UUID_RE.match(i) for i in ids)
    session.close()


def test_real_fork_child_gets_its_own_connection_and_parent_keeps_its_own(peer: FakeAMI) -> None:
    ep = endpoint(peer.port)
    parent = process_session(ep)
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            child = process_session(ep)
            child.ping()
            code = 0 if child is not parent and child.pid == os.getpid() else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("forked child hung")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    parent.ping()  # the child neither logged off nor shut down the parent's connection
    assert parent.connected
    assert peer.connections == 2
    assert peer.actions("Logoff") == []
    assert [m.get("Action") for m in peer.actions(conn=1)] == ["Login", "Ping"]


def test_idle_session_drops_itself_and_is_replaced_lazily(peer: FakeAMI) -> None:
    """The socket keeps a read timeout (max(2*ping_interval, connect+action)); a session idle
    past it disconnects on its own and process_session quietly builds a new one."""
    ep = endpoint(peer.port, connect_timeout=0.2, action_timeout=0.3, ping_interval=0.1)
    first = process_session(ep)
    peer.wait_for(lambda: not first.connected, timeout=3.0)
    second = process_session(ep)
    assert second is not first and second.connected
    second.ping()
    assert peer.connections == 2
