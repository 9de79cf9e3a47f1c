"""AMIEventClient (our own buffered reader) against a scripted AMI peer over real TCP."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest

from dispatcher.adapters.ami.client import AMIEventClient
from dispatcher.adapters.ami.errors import (
    AMIActionFailed,
    AMIAuthError,
    AMIOutcomeUnknown,
    AMIUnavailable,
)
from dispatcher.adapters.ami.protocol import AMIMessage, UnsafeAMIValue
from dispatcher.config import AMIEndpoint
from tests.support.amitrace import load_trace
from tests.support.fake_ami import (
    FakeAMI,
    PeerConn,
    default_reply,
    error_reply,
    frame,
    free_port,
    silent,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def peer() -> Iterator[FakeAMI]:
    fake = FakeAMI().start()
    yield fake
    fake.stop()


def endpoint(port: int, secret: str = "s", **kw: float) -> AMIEndpoint:
    settings = {"connect_timeout": 1.0, "action_timeout": 0.5}
    settings.update(kw)
    return AMIEndpoint("127.0.0.1", port, "u", secret, **settings)


@pytest.fixture
def client(peer: FakeAMI) -> Iterator[AMIEventClient]:
    c = AMIEventClient(endpoint(peer.port))
    yield c
    c.close()


def event(name: str, *pairs: tuple[str, str]) -> bytes:
    return frame(("Event", name), ("Privilege", "call,all"), *pairs)


def drain(client: AMIEventClient, timeout: float = 0.3) -> list[AMIMessage]:
    out = []
    while (ev := client.next_event(timeout)) is not None:
        out.append(ev)
    return out


def test_connect_logs_in_with_events_on_and_returns_fully_booted(
    peer: FakeAMI, client: AMIEventClient
) -> None:
    booted = client.connect()
    assert booted is not None and booted.name == "FullyBooted" and booted["Uptime"] == "27"
    assert client.connected and client.banner == "Asterisk Call Manager/11.0.0"
    (login,) = peer.actions()
    assert login["Events"] == "on" and UUID_RE.match(login["ActionID"])
    assert client.next_event(0.05) is None  # FullyBooted is returned, not also buffered


def test_connect_without_fully_booted_returns_none_quickly() -> None:
    peer = FakeAMI(fully_booted=False).start()
    try:
        c = AMIEventClient(endpoint(peer.port))
        start = time.monotonic()
        assert c.connect() is None
        assert time.monotonic() - start < 1.0
        c.close()
        off = AMIEventClient(endpoint(peer.port), events="off")
        start = time.monotonic()
        assert off.connect() is None
        assert time.monotonic() - start < 0.2
        assert peer.actions()[-1]["Events"] == "off"
        off.close()
    finally:
        peer.stop()


def test_auth_failure_and_refused() -> None:
    peer = FakeAMI(auth_delay=0.2).start()
    try:
        c = AMIEventClient(endpoint(peer.port, secret="wrong"))
        with pytest.raises(AMIAuthError):
            c.connect()
        assert not c.connected
    finally:
        peer.stop()
    start = time.monotonic()
    with pytest.raises(AMIUnavailable):
        AMIEventClient(endpoint(free_port())).connect()
    assert time.monotonic() - start < 1.0


def test_no_banner_is_unavailable_within_connect_timeout() -> None:
    peer = FakeAMI(banner=None).start()
    try:
        start = time.monotonic()
        with pytest.raises(AMIUnavailable):
            AMIEventClient(endpoint(peer.port, connect_timeout=0.3)).connect()
        assert time.monotonic() - start < 1.0
    finally:
        peer.stop()


def test_chanvariable_and_status_will_follow_do_not_wedge(
    peer: FakeAMI, client: AMIEventClient
) -> None:
    client.connect()
    peer.broadcast(
        event("Newchannel", ("Channel", "PJSIP/t-1"), ("CallerIDName", "status will follow"),
              ("Uniqueid", "u1"), ("ChanVariable", "CALL_ID=42"),
              ("ChanVariable(PJSIP/t-1)", "x=y"))
        + event("Hangup", ("Channel", "PJSIP/t-1"), ("CallerIDName", "--END COMMAND--"),
                ("Cause", "16"))
    )
    first = client.next_event(1.0)
    assert first is not None and first.name == "Newchannel"
    assert first["CallerIDName"] == "status will follow"
    assert first.get_all("ChanVariable") == ["CALL_ID=42"]
    assert first["ChanVariable(PJSIP/t-1)"] == "x=y"
    second = client.next_event(1.0)
    assert second is not None and second.name == "Hangup" and second["Cause"] == "16"
    client.ping()  # actions still work afterwards


def test_request_correlates_by_action_id_while_events_interleave(
    peer: FakeAMI, client: AMIEventClient
) -> None:
    def chatty(conn: PeerConn, msg: AMIMessage) -> None:
        conn.send(event("Newstate", ("Channel", "A")))
        conn.reply(msg, "Success", ("Message", "stale"), action_id="someone-else")
        conn.send(event("OriginateResponse", ("ActionID", "worker-uuid"), ("Response", "Failure")))
        time.sleep(0.05)
        conn.reply(msg, "Success", ("Ping", "Pong"))
        conn.send(event("Hangup", ("Channel", "A")))

    client.connect()
    peer.handler = chatty
    reply = client.request([("Action", "Ping")])
    assert reply["Ping"] == "Pong" and reply["ActionID"] == peer.actions("Ping")[0]["ActionID"]
    names = [e.name for e in drain(client)]
    assert names == ["Newstate", "OriginateResponse", "Hangup"]


def test_request_returns_error_replies_and_refuses_own_action_id(
    peer: FakeAMI, client: AMIEventClient
) -> None:
    client.connect()
    peer.handler = error_reply("Permission denied")
    assert client.request([("Action", "CoreStatus")])["Response"] == "Error"
    with pytest.raises(AMIActionFailed):
        client.ping()
    with pytest.raises(ValueError):
        client.request([("Action", "Ping"), ("ActionID", "mine")])
    with pytest.raises(ValueError):
        client.request([("Channel", "x")])


def test_request_list_framing(peer: FakeAMI, client: AMIEventClient) -> None:
    def list_reply(conn: PeerConn, msg: AMIMessage) -> None:
        aid = msg["ActionID"]
        conn.send(frame(("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                        ("Message", "Channels will follow")))
        conn.send(frame(("Event", "CoreShowChannel"), ("ActionID", aid), ("Channel", "c1")))
        conn.send(event("Newchannel", ("Channel", "c3")))
        conn.send(frame(("Event", "CoreShowChannel"), ("ActionID", "other"), ("Channel", "cx")))
        conn.send(frame(("Event", "CoreShowChannel"), ("ActionID", aid), ("Channel", "c2")))
        conn.send(frame(("Event", "CoreShowChannelsComplete"), ("ActionID", aid),
                        ("EventList", "Complete"), ("ListItems", "2")))
        conn.send(event("Hangup", ("Channel", "c3")))

    client.connect()
    peer.handler = list_reply
    items = client.request_list([("Action", "CoreShowChannels")])
    assert [(e.name, e["Channel"]) for e in items] == [("CoreShowChannel", "c1"),
                                                       ("CoreShowChannel", "c2")]
    assert [(e.name, e["Channel"]) for e in drain(client)] == [
        ("Newchannel", "c3"), ("CoreShowChannel", "cx"), ("Hangup", "c3")]


def test_request_list_against_a_real_capture(peer: FakeAMI, client: AMIEventClient) -> None:
    """Replay Asterisk 22's own Status reply (trace), rewritten to our ActionID."""
    trace = load_trace("coreshowchannels_during_calls")
    sent = next(m for m in trace.sent() if m.get("Action") == "Status" and "Variables" in m)
    real_id = sent["ActionID"]
    replies = [m for m in trace.received() if m.get("ActionID") == real_id]
    assert replies[-1].name == "StatusComplete"

    def replay(conn: PeerConn, msg: AMIMessage) -> None:
        for m in replies:
            items = [(k, msg["ActionID"] if k == "ActionID" else v) for k, v in m.items]
            conn.send(frame(*items))

    client.connect()
    peer.handler = replay
    items = client.request_list([("Action", "Status"), ("Channel", sent["Channel"]),
                                 ("Variables", "CALL_ID")])
    assert [e.name for e in items] == ["Status"] * (len(replies) - 2)
    assert items[0]["Variable"].startswith("CALL_ID=")


def test_request_list_error(peer: FakeAMI, client: AMIEventClient) -> None:
    client.connect()
    peer.handler = error_reply("Permission denied")
    with pytest.raises(AMIActionFailed) as info:
        client.request_list([("Action", "CoreShowChannels")])
    assert info.value.message == "Permission denied"


def test_timeout_is_outcome_unknown_and_late_replies_are_dropped(
    peer: FakeAMI, client: AMIEventClient
) -> None:
    late: list[tuple[PeerConn, AMIMessage]] = []

    def remember(conn: PeerConn, msg: AMIMessage) -> None:
        late.append((conn, msg))

    client.connect()
    peer.handler = remember
    start = time.monotonic()
    with pytest.raises(AMIOutcomeUnknown):
        client.request_list([("Action", "CoreShowChannels")], timeout=0.3)
    assert 0.25 < time.monotonic() - start < 1.0
    conn, msg = late[0]
    aid = msg["ActionID"]
    conn.send(frame(("Response", "Success"), ("ActionID", aid), ("EventList", "start")))
    conn.send(frame(("Event", "CoreShowChannel"), ("ActionID", aid), ("Channel", "late")))
    conn.send(event("Newchannel", ("Channel", "real")))
    peer.handler = default_reply
    client.ping()  # the late Success is not taken for the Ping's reply
    assert [e["Channel"] for e in drain(client)] == ["real"]
    assert client.connected


def test_connection_close_raises_unavailable_after_buffered_events(
    peer: FakeAMI, client: AMIEventClient
) -> None:
    client.connect()
    peer.broadcast(event("Hangup", ("Channel", "A")))
    peer.wait_for(lambda: peer.raw_bytes())  # login went through
    time.sleep(0.05)
    peer.conns[0].close()
    ev = client.next_event(1.0)
    assert ev is not None and ev.name == "Hangup"
    with pytest.raises(AMIUnavailable):
        client.next_event(1.0)
    assert not client.connected
    with pytest.raises(AMIUnavailable):
        client.next_event(0.1)
    with pytest.raises(AMIUnavailable):
        client.ping()


def test_close_while_waiting_for_reply_is_outcome_unknown(
    peer: FakeAMI, client: AMIEventClient
) -> None:
    client.connect()
    peer.handler = lambda conn, msg: conn.close()
    with pytest.raises(AMIOutcomeUnknown):
        client.request([("Action", "Ping")])
    assert not client.connected


def test_silent_peer_bounded(peer: FakeAMI, client: AMIEventClient) -> None:
    client.connect()
    peer.handler = silent
    start = time.monotonic()
    assert client.next_event(0.2) is None
    with pytest.raises(AMIOutcomeUnknown):
        client.request([("Action", "Ping")])
    assert time.monotonic() - start < 1.5
    assert client.next_event(0) is None


def test_injection_never_reaches_the_socket(peer: FakeAMI, client: AMIEventClient) -> None:
    client.connect()
    before = peer.raw_bytes()
    for bad in ["x\r\n\r\nAction: Command", "x\ny", "x\x00", "é"]:
        with pytest.raises(UnsafeAMIValue):
            client.request([("Action", "Status"), ("Channel", bad)])
    for name in ["Channel\n", "Chan nel", "Channel:", ""]:
        with pytest.raises(UnsafeAMIValue):
            client.request([("Action", "Status"), (name, "x")])
    time.sleep(0.05)
    assert peer.raw_bytes() == before
    assert client.connected


def test_event_buffer_overflow_drops_connection_loudly(peer: FakeAMI) -> None:
    c = AMIEventClient(endpoint(peer.port), max_buffered_events=100)
    c.connect()
    peer.handler = lambda conn, msg: (
        conn.send(b"".join(event("VarSet", ("N", str(i))) for i in range(500))),
        conn.reply(msg, "Success"),
    )
    with pytest.raises(AMIOutcomeUnknown):
        c.request([("Action", "Ping")])
    assert not c.connected
    assert c.buffered_events > 100  # what did arrive is still readable
    c.close()


def test_replays_real_trace_events_identically(peer: FakeAMI, client: AMIEventClient) -> None:
    trace = load_trace("busy")
    raw = b"".join(b.raw for b in trace.blocks if b.kind == "RECV" and b.message is not None
                   and b.message.kind == "event")
    expected = trace.events()
    client.connect()
    peer.broadcast(raw)
    got = drain(client, 0.5)
    got = [g for g in got if g.name != "FullyBooted"]
    expected = [e for e in expected if e.name != "FullyBooted"]
    assert [g.items for g in got] == [e.items for e in expected]


def test_burst_of_20k_events(peer: FakeAMI, client: AMIEventClient) -> None:
    n = 20_000
    template = load_trace("busy").events()[1]  # a real Newchannel, ~500 bytes
    payload = b"".join(
        frame(*[(k, str(i) if k == "Uniqueid" else v) for k, v in template.items])
        for i in range(n)
    )
    client.connect()
    start = time.monotonic()
    sender = threading.Thread(target=peer.broadcast, args=(payload,), daemon=True)
    sender.start()  # the peer writes while we read, as Asterisk would
    count = 0
    while count < n:
        ev = client.next_event(5.0)
        assert ev is not None
        count += 1
    elapsed = time.monotonic() - start
    sender.join(5)
    assert ev is not None and ev["Uniqueid"] == str(n - 1)
    print(f"\n{n} events ({len(payload) / 1e6:.1f} MB) in {elapsed:.3f}s = {n / elapsed:,.0f}/s")
