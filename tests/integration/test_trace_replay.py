"""Replaying the real Asterisk 22 captures through event recording yields the right rows.

Each trace's Originate actions become call rows (attempt id = the ChannelId Asterisk saw); the
events Asterisk sent are then recorded exactly as the consumer records them, once in order,
then again duplicated and reversed, which must change nothing.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.adapters.db.call_events import CallEventRepository
from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.tables import CallRow
from dispatcher.config import Settings
from dispatcher.usecases.record_events import record_events
from tests.support.amitrace import Trace, all_trace_names, load_trace
from tests.support.fake_ami import FakeAMI, PeerConn, default_reply, frame

Expected = tuple[str, str | None, int | None, int | None]  # status, outcome, cause, sip code

EXPECTED: dict[str, dict[str, Expected]] = {
    "answered_remote_hangup": {"1001": ("completed", "answered", 16, None)},
    "answered_local_hangup": {"5001": ("completed", "answered", 16, None)},
    "mode2_answered_remote_hangup": {"1001": ("completed", "answered", 16, None)},
    "originate_application_wait": {"1006": ("completed", "answered", 16, None)},
    "busy": {"2001": ("busy", "busy", 17, 486)},
    "congestion": {"3001": ("failed", "congestion", 34, 503)},
    "no_answer_timeout": {"4001": ("no-answer", "no-answer", 19, 480)},
    "no_route_at_carrier": {"9001": ("failed", "invalid-number", 1, 404)},
    "mode2_registration_rejected": {"1001": ("failed", "rejected", 21, 401)},
    "carrier_down": {"1001": ("failed", "trunk-unreachable", None, None)},
    "carrier_down_unqualified": {"1001": ("failed", "trunk-unreachable", 18, 408)},
    "bad_channel": {"1001@no-such-trunk": ("failed", "trunk-unreachable", None, None),
                    "no-such-endpoint": ("failed", "trunk-unreachable", None, None)},
    "event_filter": {"1001": ("completed", "answered", 16, None),
                     "2002": ("busy", "busy", 17, 486)},
    "coreshowchannels_during_calls": {"5001": ("completed", "answered", 16, None),
                                      "4002": ("canceled", "canceled", 16, None)},
    "local_channel_answered": {"1005@outbound": ("completed", "answered", 16, None)},
    "local_channel_inherited_var": {"1007@outbound": ("completed", "answered", 16, None)},
}
# Traces whose calls we hung up ourselves through AMI (a cancel, from the API's point of view).
CANCELED = {("coreshowchannels_during_calls", "4002")}


def _number(channel: str) -> str:
    resource = channel.split("/", 1)[1]
    return resource.removesuffix("@carrier-trunk")


def _seed_calls(sessions: sessionmaker[Session], trace: Trace) -> dict[str, uuid.UUID]:
    calls: dict[str, uuid.UUID] = {}
    with sessions.begin() as session:
        for action in trace.sent():
            if action.get("Action") != "Originate" or not action.get("ChannelId"):
                continue
            if (action.get("Async") or "").lower() != "true":
                continue  # we only ever originate asynchronously
            number = _number(action["Channel"])
            call_vars = dict(v.split("=", 1) for v in action.get_all("Variable"))
            call_id = uuid.UUID(call_vars.get("CALL_ID") or call_vars["__CALL_ID"])
            canceled = (trace.name, number) in CANCELED
            session.add(CallRow(
                id=call_id, to_number="+98912" + number[:4], dial_string=action["Channel"],
                ring_timeout=30, variables={}, status="initiated",
                attempt_id=uuid.UUID(action["ChannelId"]), claimed_at=datetime.now(tz=UTC),
                cancel_requested_at=datetime.now(tz=UTC) if canceled else None))
            calls[number] = call_id
    return calls


def _rows(sessions: sessionmaker[Session], calls: dict[str, uuid.UUID]) -> dict[str, CallRow]:
    rows: dict[str, CallRow] = {}
    with sessions() as session:
        repo = CallRepository(session)
        for number, call_id in calls.items():
            row = repo.get(call_id)
            assert row is not None, number
            rows[number] = row
    return rows


def test_every_shared_trace_has_an_expectation() -> None:
    with_calls = {n for n in all_trace_names()
                  if any(a.get("Action") == "Originate" and a.get("ChannelId")
                         for a in load_trace(n).sent())}
    assert with_calls == set(EXPECTED) | WORKER_ONLY


# A worker-style session (Events: off) sees no events at all, so its calls stay as the worker
# left them until the consumer's own session, or reconciliation, settles them.
WORKER_ONLY = {"events_off_originate"}


def test_a_session_with_events_off_settles_nothing(sessions: sessionmaker[Session]) -> None:
    trace = load_trace("events_off_originate")
    calls = _seed_calls(sessions, trace)
    record_events(sessions, trace.received())
    assert {r.status for r in _rows(sessions, calls).values()} == {"initiated"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_replaying_a_real_trace_records_the_right_final_state(
    name: str, sessions: sessionmaker[Session]
) -> None:
    trace = load_trace(name)
    calls = _seed_calls(sessions, trace)
    assert set(calls) == set(EXPECTED[name])
    events = trace.received()
    record_events(sessions, events)
    rows = _rows(sessions, calls)
    for number, expected in EXPECTED[name].items():
        row = rows[number]
        assert (row.status, row.outcome, row.hangup_cause, row.sip_code) == expected, number
        assert row.ended_at is not None
        if expected[0] == "completed":
            assert row.answered_at is not None and row.ended_at > row.answered_at

    before = {n: (r.status, r.outcome, r.answered_at, r.ended_at, r.hangup_cause)
              for n, r in rows.items()}
    record_events(sessions, list(reversed(events)) + events)
    after = {n: (r.status, r.outcome, r.answered_at, r.ended_at, r.hangup_cause)
             for n, r in _rows(sessions, calls).items()}
    assert after == before


def test_a_replayed_call_keeps_each_event_once_oldest_first(
    sessions: sessionmaker[Session]
) -> None:
    trace = load_trace("busy")
    calls = _seed_calls(sessions, trace)
    record_events(sessions, trace.received())
    record_events(sessions, trace.received())
    with sessions() as session:
        names = [e.name for e in CallEventRepository(session).events(calls["2001"])]
    assert names[0] == "Newchannel" and names.count("Hangup") == 1
    assert {"VarSet", "DialBegin", "HangupRequest", "DialEnd", "OriginateResponse",
            "Cdr"} <= set(names)
    assert "CEL" not in names


def _list_reply(conn: PeerConn, msg: AMIMessage) -> None:
    """Answer like an idle Asterisk: no live channels, pongs to pings."""
    if (msg.get("Action") or "").lower() == "coreshowchannels":
        aid = msg.get("ActionID") or ""
        conn.send(frame(("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                        ("Message", "Channels will follow")))
        conn.send(frame(("Event", "CoreShowChannelsComplete"), ("ActionID", aid),
                        ("EventList", "Complete"), ("ListItems", "0")))
    else:
        default_reply(conn, msg)


def test_the_event_consumer_over_tcp_turns_the_real_bytes_into_the_right_rows(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """Every capture's events, byte for byte as Asterisk sent them, through the consumer."""
    from workers.event_consumer import EventConsumer

    traces = [load_trace(name) for name in sorted(EXPECTED)]
    calls = {t.name: _seed_calls(sessions, t) for t in traces}
    stream = b"".join(b.raw for t in traces for b in t.blocks
                      if b.kind == "RECV" and b.conn == "ami" and b.message is not None
                      and b.message.kind == "event")
    peer = FakeAMI({"dispatcher": "secret"})
    peer.handler = _list_reply
    peer.after_login = lambda conn: conn.send(stream)
    peer.start()
    consumer = EventConsumer(replace(settings, ami_port=peer.port, ami_username="dispatcher",
                                     ami_secret="secret", reconcile_grace=3600),
                             sessions, name="replay")
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        expected = {(name, number): want for name, per in EXPECTED.items()
                    for number, want in per.items()}
        deadline = time.monotonic() + 30
        while True:
            got = {(name, number): (r.status, r.outcome, r.hangup_cause, r.sip_code)
                   for name, per in calls.items()
                   for number, r in _rows(sessions, per).items()}
            if got == expected or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert got == expected
    finally:
        consumer.stop.set()
        thread.join(10)
        peer.stop()
