"""Behaviour of the simulated Asterisk AMI over real TCP sockets (see test_pbxsim_traces for the
byte-level comparison with the captures). Every wait is bounded by the probe's timeout."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TypedDict, Unpack

import pytest

from dispatcher.adapters.ami.protocol import AMIMessage
from pbxsim import PBXSimulator, SimConfig
from pbxsim.config import CallShape, CallShaper, CdrSink, OutcomePicker
from pbxsim.probe import AMIProbe


class SimSettings(TypedDict, total=False):
    """The :class:`SimConfig` fields these tests set."""

    users: dict[str, str]
    lines: int
    ring_delay: float
    answer_delay: float
    talk_time: float
    hold_max: float
    timeout_408: float
    login_failure_delay: float
    auth_timeout: float
    cdr_events: bool
    cel_events: bool
    timestamp_events: bool
    cdr_sink: CdrSink | None
    call_shape: CallShaper | None


USERS = {"dispatcher": "s3cret", "events": "ev-secret"}
FAST = SimSettings(users=USERS, ring_delay=0.01, answer_delay=0.1, talk_time=0.2,
                   timeout_408=0.3, login_failure_delay=0.1, hold_max=30.0)


def make_sim(**overrides: Unpack[SimSettings]) -> PBXSimulator:
    fields: SimSettings = {**FAST, **overrides}
    return PBXSimulator(SimConfig(**fields)).start()


@pytest.fixture
def sim() -> Iterator[PBXSimulator]:
    simulator = make_sim()
    yield simulator
    simulator.stop()


def connect(sim: PBXSimulator, events: str = "on", user: str = "dispatcher") -> AMIProbe:
    probe = AMIProbe(sim.port)
    assert probe.login(user, USERS[user], events)["Message"] == "Authentication accepted"
    return probe


def originate(probe: AMIProbe, number: str, *extra: tuple[str, str], sync: bool = False,
              channel_id: str | None = None, timeout_ms: int = 30000) -> tuple[str, str]:
    channel_id = channel_id or str(uuid.uuid4())
    action_id = probe.action(
        "Originate", ("Channel", f"PJSIP/{number}@carrier-trunk"),
        ("Context", "dispatcher-answered"), ("Exten", "s"), ("Priority", "1"),
        ("Timeout", str(timeout_ms)), ("CallerID", '"Dispatcher" <5551000>'),
        ("Variable", f"CALL_ID={channel_id}"), ("ChannelId", channel_id),
        ("Async", "false" if sync else "true"), *extra)
    return action_id, channel_id


def call_events(probe: AMIProbe, uid: str) -> list[AMIMessage]:
    return [m for m in probe.events()
            if uid in (m.get("Uniqueid"), m.get("DestUniqueid"), m.get("UniqueID"))]


def hangup_of(probe: AMIProbe, uid: str, timeout: float = 5.0) -> AMIMessage:
    return probe.event("Hangup", timeout, Uniqueid=uid)


# -- sessions and framing -------------------------------------------------------------------
def test_banner_login_fullybooted_ping_and_logoff(sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        booted = probe.event("FullyBooted")
        assert bytes(probe.raw).startswith(b"Asterisk Call Manager/11.0.0\r\nResponse: Success")
        assert [k for k, _ in booted.items] == ["Event", "Privilege", "Uptime", "LastReload",
                                                 "Status"]
        assert booted["Privilege"] == "system,all" and booted["Status"] == "Fully Booted"
        pong = probe.response(probe.action("Ping"))
        assert [k for k, _ in pong.items] == ["Response", "ActionID", "Ping", "Timestamp"]
        assert pong["Ping"] == "Pong" and re.fullmatch(r"\d+\.\d{6}", pong["Timestamp"])
        bye = probe.response(probe.action("Logoff"))
        assert (bye["Response"], bye["Message"]) == ("Goodbye", "Thanks for all the fish.")
        assert probe.wait_closed()


def test_bare_lf_and_case_insensitive_headers_where_the_first_copy_wins(
        sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        probe.send_raw(b"action: Ping\nACTIONID: first\nActionID: second\nAction: Logoff\n\n")
        pong = probe.wait_for(lambda m: m.get("Ping") == "Pong")
        assert pong["ActionID"] == "first" and not probe.closed


def test_login_failure_is_delayed_then_closes_the_connection(sim: PBXSimulator) -> None:
    for user, secret in (("dispatcher", "wrong"), ("nosuchuser", "s3cret"), ("", "")):
        with AMIProbe(sim.port) as probe:
            started = time.monotonic()
            reply = probe.login(user, secret)
            assert time.monotonic() - started >= 0.09
            assert (reply["Response"], reply["Message"]) == ("Error", "Authentication failed")
            assert probe.wait_closed()
    assert all(a["Secret"] == "REDACTED" for a in sim.actions if a["Action"] == "Login")


def test_actions_before_login_are_denied_and_the_session_stays_usable(
        sim: PBXSimulator) -> None:
    with AMIProbe(sim.port) as probe:
        action_id, channel_id = originate(probe, "1001")
        assert probe.response(action_id)["Message"] == "Permission denied"
        assert probe.response(probe.action("Ping"))["Message"] == "Permission denied"
        assert probe.login("dispatcher", "s3cret", "off")["Message"] == "Authentication accepted"
        assert probe.response(probe.action("Ping"))["Ping"] == "Pong"
        assert probe.events() == [] and not probe.closed
        assert sim.originate_counts() == {}


def test_unknown_action_missing_action_and_already_authenticated(sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        reply = probe.response(probe.action("Frobnicate"))
        assert reply["Message"] == ("Invalid/unknown command: Frobnicate. "
                                    "Use Action: ListCommands to show available commands.")
        probe.send([("ActionID", "no-action")])
        assert probe.response("no-action")["Message"] == "Missing action in request"
        again = probe.login("dispatcher", "s3cret")
        assert (again["Response"], again["Message"]) == ("Success", "Already authenticated")


def test_a_too_long_line_fails_that_action_only(sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        probe.send_raw(b"Action: Ping\r\nActionID: long-1\r\nX-Pad: " + b"a" * 2000 + b"\r\n\r\n")
        reply = probe.response("long-1")
        assert (reply["Response"], reply["Message"]) == (
            "Error", "Failed to parse message: line too long")
        fits = b"X-Pad: " + b"b" * (1022 - 7)  # 1022 bytes + CRLF = the whole 1024-byte buffer
        probe.send_raw(b"Action: Ping\r\nActionID: fits\r\n" + fits + b"\r\n\r\n")
        assert probe.response("fits")["Ping"] == "Pong"
        assert probe.response(probe.action("Ping"))["Ping"] == "Pong"


def test_auth_timeout_closes_idle_unauthenticated_sessions() -> None:
    simulator = make_sim(auth_timeout=0.2)
    try:
        with AMIProbe(simulator.port) as probe:
            assert probe.wait_closed(2.0)
    finally:
        simulator.stop()


def test_md5_challenge_login(sim: PBXSimulator) -> None:
    with AMIProbe(sim.port) as probe:
        challenge = probe.response(probe.action("Challenge", AuthType="MD5"))["Challenge"]
        key = hashlib.md5((challenge + "s3cret").encode()).hexdigest()
        reply = probe.response(probe.action("Login", AuthType="MD5", Username="dispatcher",
                                            Key=key))
        assert reply["Message"] == "Authentication accepted"


# -- events ---------------------------------------------------------------------------------
def test_events_off_gets_no_events_while_everyone_else_gets_the_originate_response(
        sim: PBXSimulator) -> None:
    with connect(sim, "off") as worker, connect(sim, user="events") as consumer:
        action_id, uid = originate(worker, "2001")
        assert worker.response(action_id)["Message"] == "Originate successfully queued"
        response = consumer.event("OriginateResponse", ActionID=action_id)
        assert (response["Response"], response["Reason"], response["Uniqueid"]) == (
            "Failure", "0", uid)
        hangup_of(consumer, uid)
        worker.settle()
        assert worker.events() == []


def test_event_class_masks_and_the_events_action(sim: PBXSimulator) -> None:
    with connect(sim, "call") as probe:
        action_id, uid = originate(probe, "2001")
        hangup_of(probe, uid)
        probe.settle()
        names = {m.name for m in probe.events()}
        assert "Newchannel" in names and not names & {"FullyBooted", "VarSet", "Newexten", "Cdr"}
        reply = probe.response(probe.action("Events", EventMask="off"))
        assert [k for k, _ in reply.items] == ["Response", "ActionID", "Events"]
        assert reply["Events"] == "Off"
        seen = len(probe.events())
        originate(probe, "2002")
        probe.settle()
        assert len(probe.events()) == seen


def test_config_switches_for_cel_cdr_timestamps_and_the_cdr_sink() -> None:
    records: list[dict[str, str]] = []
    simulator = make_sim(cel_events=False, cdr_events=False, timestamp_events=False,
                         cdr_sink=records.append)
    try:
        with connect(simulator) as probe:
            _, uid = originate(probe, "3001")
            hangup_of(probe, uid)
            probe.settle()
            assert not {m.name for m in probe.events()} & {"CEL", "Cdr"}
            assert all("Timestamp" not in m for m in probe.events())
        assert [(r["UniqueID"], r["Disposition"]) for r in records] == [(uid, "CONGESTION")]
        # The sink also gets the hangup cause, as cdr_pgsql would from CDR(hangupcause).
        assert [r.pop("hangupcause") for r in records] == ["34"]
        # and the exact times, as cdr_pgsql writes into float columns (never answered: none)
        assert [(float(r.pop("end_epoch")) > 0, r.pop("answer_epoch")) for r in records] == [
            (True, "")]
        assert simulator.cdrs == records
    finally:
        simulator.stop()


# -- outcomes -------------------------------------------------------------------------------
OUTCOME_CASES = {  # number -> (Response, Reason, Cause, TechCause, DialEnd status, Disposition)
    "0912341001": ("Success", "4", "16", None, "ANSWER", "ANSWERED"),
    "0912342001": ("Failure", "0", "17", "486", "BUSY", "BUSY"),
    "0912343001": ("Failure", "0", "34", "503", "CONGESTION", "CONGESTION"),
    "0912344001": ("Failure", "3", "19", "480", None, "NO ANSWER"),
    "0912346001": ("Failure", "0", "21", "403", "NOANSWER", "NO ANSWER"),
    "0912348001": ("Failure", "0", "18", "408", "NOANSWER", "NO ANSWER"),
    "0912349001": ("Failure", "0", "1", "404", "NOANSWER", "NO ANSWER"),
}


@pytest.mark.parametrize("number", list(OUTCOME_CASES))
def test_the_carrier_plan_outcomes(sim: PBXSimulator, number: str) -> None:
    response, reason, cause, tech, dial, disposition = OUTCOME_CASES[number]
    with connect(sim) as probe:
        action_id, uid = originate(probe, number, timeout_ms=400)
        hangup = hangup_of(probe, uid)
        probe.settle(0.1)
        got = probe.event("OriginateResponse", ActionID=action_id)
        assert (got["Response"], got["Reason"]) == (response, reason)
        assert (hangup["Cause"], hangup.get("TechCause")) == (cause, tech)
        ends = [m["DialStatus"] for m in call_events(probe, uid) if m.name == "DialEnd"]
        assert ends == ([dial] if dial else [])
        assert probe.event("Cdr", UniqueID=uid)["Disposition"] == disposition
        assert sim.live_channels() == []


SHAPES = {  # the carrier plan says busy, no-answer, busy: each call's shape overrides it
    "0912342001": CallShape("answer", ring_time=0.05, talk_time=0.05),
    "0912344001": CallShape(ring_time=0.05),
    "0912342002": CallShape("no-answer", ring_time=0.05),
}


def test_a_call_shape_sets_each_calls_outcome_and_ringing() -> None:
    """Load runs give calls their own ring and talk times; a no-answer call whose ringing
    stops ends as the Originate Timeout ends one, long before this one's 30 s."""
    simulator = make_sim(call_shape=SHAPES.get)
    try:
        with connect(simulator) as probe:
            calls = {number: originate(probe, number) for number in [*SHAPES, "0912342003"]}
            hangups = {number: hangup_of(probe, uid) for number, (_, uid) in calls.items()}
            probe.settle(0.1)
            reasons = {number: probe.event("OriginateResponse", ActionID=action)["Reason"]
                       for number, (action, _) in calls.items()}
    finally:
        simulator.stop()
    assert reasons == {"0912342001": "4", "0912344001": "3", "0912342002": "3",
                       "0912342003": "0"}  # the last has no shape: busy, as the plan says
    assert {n: (h["Cause"], h.get("TechCause")) for n, h in hangups.items()} == {
        "0912342001": ("16", None), "0912344001": ("19", "480"),
        "0912342002": ("19", "480"), "0912342003": ("17", "486")}


def test_a_call_shape_refuses_an_unknown_outcome_and_negative_times() -> None:
    with pytest.raises(ValueError, match="unknown outcome"):
        CallShape("voicemail")
    with pytest.raises(ValueError, match="talk_time"):
        CallShape(talk_time=-1.0)


def test_unreachable_numbers_and_unknown_endpoints_never_get_a_channel(
        sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        a1, uid = originate(probe, "0912347001")
        a2 = probe.action("Originate", Channel="PJSIP/1001@no-such-trunk", Application="Wait",
                          Data="1", Async="true")
        a3 = probe.action("Originate", Channel="Local/1001@outbound", Application="Wait",
                          Async="true")
        first = probe.event("OriginateResponse", ActionID=a1)
        assert (first["Response"], first["Reason"], first["Uniqueid"], first["Channel"]) == (
            "Failure", "0", uid, "PJSIP/0912347001@carrier-trunk")
        second = probe.event("OriginateResponse", ActionID=a2)
        assert (second["Uniqueid"], second["Application"], second["Data"]) == (
            "<unknown>", "Wait", "1")
        probe.event("OriginateResponse", ActionID=a3)
        probe.settle(0.1)
        assert {m.name for m in probe.events()} == {"FullyBooted", "OriginateResponse"}


def test_answer_hold_stays_up_until_ami_hangup_by_name(sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        action_id, uid = originate(probe, "0912345001")
        assert probe.event("OriginateResponse", ActionID=action_id)["Reason"] == "4"
        time.sleep(0.3)  # longer than talk_time: only "answer" hangs up by itself
        [live] = sim.live_channels()
        assert live["uniqueid"] == uid and live["state"] == "Up"
        reply = probe.response(probe.action("Hangup", Channel=str(live["channel"]), Cause="16"))
        assert reply["Message"] == "Channel Hungup"
        hangup = hangup_of(probe, uid)
        names = [m.name for m in call_events(probe, uid)]
        assert names.index("SoftHangupRequest") < names.index("Hangup")
        assert "HangupRequest" not in names and hangup["Cause"] == "16"
        gone = probe.response(probe.action("Hangup", Channel=str(live["channel"])))
        assert (gone["Response"], gone["Message"]) == ("Error", "No such channel")


def test_ami_hangup_of_a_ringing_call_by_uniqueid(sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        action_id, uid = originate(probe, "0912344002")
        probe.event("DialState", DestUniqueid=uid)
        assert probe.response(probe.action("Hangup", Channel=uid, Cause="16"))["Message"] == \
            "Channel Hungup"
        assert hangup_of(probe, uid)["Cause"] == "16"
        probe.settle(0.1)
        names = [m.name for m in call_events(probe, uid)]
        assert "SoftHangupRequest" not in names
        assert probe.event("DialEnd", DestUniqueid=uid)["DialStatus"] == "NOANSWER"
        result = probe.event("OriginateResponse", ActionID=action_id)
        assert (result["Response"], result["Reason"]) == ("Failure", "0")


def test_hangup_by_regex_lists_every_channel_it_hung_up(sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        uids = [originate(probe, f"091234500{i}")[1] for i in range(2)]
        for uid in uids:
            probe.event("Newstate", Uniqueid=uid, ChannelStateDesc="Up")
        action_id = probe.action("Hangup", Channel="/^PJSIP/carrier-trunk-/")
        ack = probe.response(action_id)
        assert (ack["EventList"], ack["Message"]) == ("start", "Channels hung up will follow")
        done = probe.event("ChannelsHungupListComplete", ActionID=action_id)
        assert (done["EventList"], done["ListItems"]) == ("Complete", "2")
        assert len([m for m in probe.events("ChannelHungup")]) == 2
        for uid in uids:
            hangup_of(probe, uid)
        assert sim.live_channels() == []


# -- dedup, capacity, variables, lists ------------------------------------------------------
def test_a_live_duplicate_channel_id_is_refused(sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        first, uid = originate(probe, "0912345001")
        probe.event("OriginateResponse", ActionID=first)
        again, _ = originate(probe, "0912345001", channel_id=uid)
        refused = probe.event("OriginateResponse", ActionID=again)
        assert (refused["Response"], refused["Reason"], refused["Channel"]) == (
            "Failure", "0", "PJSIP/0912345001@carrier-trunk")
        sync, _ = originate(probe, "0912345001", channel_id=uid, sync=True)
        assert probe.response(sync)["Message"] == "Originate failed"
        assert len(probe.events("Newchannel")) == 1
        probe.action("Hangup", Channel=uid)
        hangup_of(probe, uid)
        reused, _ = originate(probe, "0912342001", channel_id=uid)
        assert probe.event("OriginateResponse", ActionID=reused)["Uniqueid"] == uid
        assert len(probe.events("Newchannel")) == 2
    assert sim.originate_counts() == {uid: 4}


def test_the_line_limit_refuses_like_a_full_carrier() -> None:
    simulator = make_sim(lines=2)
    try:
        with connect(simulator) as probe:
            held = [originate(probe, "0912345001")[1] for _ in range(2)]
            for uid in held:
                probe.event("Newstate", Uniqueid=uid, ChannelStateDesc="Up")
            _, extra = originate(probe, "0912345001")
            refused = hangup_of(probe, extra)
            assert (refused["Cause"], refused["TechCause"]) == ("34", "503")
            assert probe.event("Cdr", UniqueID=extra)["Disposition"] == "CONGESTION"
            assert simulator.max_live_channels == 2
            probe.action("Hangup", Channel=held[0])
            hangup_of(probe, held[0])
            _, later = originate(probe, "0912345001")
            probe.event("Newstate", Uniqueid=later, ChannelStateDesc="Up")
            assert simulator.max_live_channels == 2
    finally:
        simulator.stop()


def test_variables_are_split_on_commas_and_readable_back(sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        _, uid = originate(probe, "0912345001", ("Variable", "A=1,B=two"),
                           ("Variable", 'C="x,y",D=a\\,b'))
        probe.event("Newstate", Uniqueid=uid, ChannelStateDesc="Up")
        sets = [(m["Variable"], m["Value"]) for m in call_events(probe, uid)
                if m.name == "VarSet"][:5]
        assert sets == [("CALL_ID", uid), ("A", "1"), ("B", "two"), ("C", "x,y"), ("D", "a,b")]
        value = probe.response(probe.action("Getvar", Channel=uid, Variable="C"))
        assert [k for k, _ in value.items] == ["Response", "ActionID", "Variable", "Value"]
        assert value["Value"] == "x,y"
        action_id = probe.action("Status", Channel=uid, Variables="A,B,NOPE")
        status = probe.event("Status", ActionID=action_id)
        assert status.get_all("Variable") == ["A=1", "B=two", "NOPE="]


def test_list_actions_are_framed_like_asterisk_and_sent_only_to_the_requester(
        sim: PBXSimulator) -> None:
    with connect(sim, "off") as quiet, connect(sim) as other:
        _, uid = originate(quiet, "0912345001")
        other.event("Newstate", Uniqueid=uid, ChannelStateDesc="Up")
        action_id = quiet.action("CoreShowChannels")
        ack = quiet.response(action_id)
        assert [k for k, _ in ack.items] == ["Response", "ActionID", "EventList", "Message"]
        assert (ack["EventList"], ack["Message"]) == ("start", "Channels will follow")
        item = quiet.event("CoreShowChannel", ActionID=action_id)
        assert "Privilege" not in item and "Timestamp" not in item
        assert (item["Uniqueid"], item["Application"], item["Duration"]) == (
            uid, "Playback", "00:00:00")  # Playback(silence/1) of the lab dialplan
        done = quiet.event("CoreShowChannelsComplete", ActionID=action_id)
        assert [(k, v) for k, v in done.items][1:] == [
            ("ActionID", action_id), ("EventList", "Complete"), ("ListItems", "1")]
        status_id = quiet.action("Status")
        status = quiet.event("Status", ActionID=status_id)
        assert status["Privilege"] == "Call" and status.items[-1] == ("ActionID", status_id)
        complete = quiet.event("StatusComplete", ActionID=status_id)
        assert (complete["ListItems"], complete["Items"]) == ("1", "1")
        missing = quiet.response(quiet.action("Status", Channel="PJSIP/nope-00000000"))
        assert missing["Message"] == "No such channel"
        core = quiet.response(quiet.action("CoreStatus"))
        assert [k for k, _ in core.items][2:] == [
            "CoreStartupDate", "CoreStartupTime", "CoreReloadDate", "CoreReloadTime",
            "CoreCurrentCalls"] and core["CoreCurrentCalls"] == "1"
        other.settle(0.1)
        assert not other.events("CoreShowChannel") and not other.events("Status")


def test_sync_originate_blocks_until_the_answer_and_never_sends_originate_response(
        sim: PBXSimulator) -> None:
    with connect(sim, "off") as worker, connect(sim) as observer:
        started = time.monotonic()
        answered, uid = originate(worker, "0912341003", sync=True)
        assert worker.response(answered)["Message"] == "Originate successfully queued"
        assert time.monotonic() - started >= 0.1
        busy, _ = originate(worker, "0912342002", sync=True)
        assert worker.response(busy)["Message"] == "Originate failed"
        hangup_of(observer, uid)
        observer.settle(0.1)
        assert observer.events("OriginateResponse") == []


def test_originate_argument_errors(sim: PBXSimulator) -> None:
    cases = [
        ([("Exten", "s")], "Channel not specified"),
        ([("Channel", "carrier-trunk"), ("Async", "true")], "Invalid channel"),
        ([("Channel", "PJSIP/1@carrier-trunk"), ("Timeout", "soon")], "Invalid timeout"),
        ([("Channel", "PJSIP/1@carrier-trunk"), ("Context", "nowhere"), ("Exten", "s"),
          ("Priority", "1")], "Extension does not exist."),
        ([("Channel", "PJSIP/1@carrier-trunk"), ("Context", "dispatcher-answered")],
         "Originate with 'Exten' requires 'Context' and 'Priority'"),
        ([("Channel", "PJSIP/1@carrier-trunk"), ("ChannelId", "x" * 150)],
         "Uniqueid length exceeds maximum of 149"),
    ]
    with connect(sim) as probe:
        for headers, message in cases:
            reply = probe.response(probe.action("Originate", *headers))
            assert (reply["Response"], reply["Message"]) == ("Error", message)


def test_without_channel_id_the_uniqueid_is_epoch_dot_sequence(sim: PBXSimulator) -> None:
    with connect(sim) as probe:
        action_id = probe.action("Originate", Channel="PJSIP/0912341001@carrier-trunk",
                                 Application="Wait", Data="5", Async="true")
        made = probe.event("Newchannel")
        assert re.fullmatch(r"\d+\.\d+", made["Uniqueid"]) and made["Linkedid"] == \
            made["Uniqueid"] and made["Channel"] == "PJSIP/carrier-trunk-00000000"
        success = probe.event("OriginateResponse", ActionID=action_id)
        assert (success["Uniqueid"], success["CallerIDNum"]) == (made["Uniqueid"], "<unknown>")


# -- faults ---------------------------------------------------------------------------------
def test_restart_loses_calls_silently_and_closes_sessions(sim: PBXSimulator) -> None:
    probe = connect(sim)
    _, uid = originate(probe, "0912345001")
    probe.event("Newstate", Uniqueid=uid, ChannelStateDesc="Up")
    sim.restart()
    assert probe.wait_closed()
    assert not probe.events("Hangup") and sim.live_channels() == []
    probe.close()
    with connect(sim) as fresh:
        assert fresh.event("FullyBooted")["Uptime"] == "0"
        _, again = originate(fresh, "0912342001", channel_id=uid)
        assert fresh.event("Newchannel", Uniqueid=again)["Channel"].endswith("-00000000")
    done = threading.Thread(target=sim.restart, kwargs={"downtime": 0.5})
    done.start()
    time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sim.port), timeout=1).close()
    done.join(5)
    with connect(sim) as back:
        assert back.response(back.action("Ping"))["Ping"] == "Pong"


def test_dropped_sessions_leave_calls_running(sim: PBXSimulator) -> None:
    probe = connect(sim)
    _, uid = originate(probe, "0912341001")
    probe.event("Newchannel", Uniqueid=uid)
    sim.drop_sessions()
    assert probe.wait_closed()
    probe.close()
    deadline = time.monotonic() + 5
    while not any(r["UniqueID"] == uid for r in sim.cdrs):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sim.cdrs[-1]["Disposition"] == "ANSWERED"


def test_silent_mode_accepts_but_never_answers(sim: PBXSimulator) -> None:
    sim.set_silent(True)
    with AMIProbe(sim.port) as probe:
        probe.action("Login", Username="dispatcher", Secret="s3cret")
        time.sleep(0.3)
        assert bytes(probe.raw) == b"" and not probe.closed
        sim.set_silent(False)
        probe.send_raw(b"Action: Ping\r\nActionID: after\r\n\r\n")
        probe.settle(0.2)
        assert b"Permission denied" in bytes(probe.raw)  # the swallowed Login never happened
    assert [a["Action"] for a in sim.actions] == ["Login", "Ping"]


# -- configuration and CLI ------------------------------------------------------------------
def test_outcome_choice_rules_plan_and_seeded_mix() -> None:
    cfg = SimConfig(rules=[(r"^0912", "busy"), (r"99$", "unreachable")],
                    mix={"answer": 1.0, "congestion": 1.0}, seed=3)
    picker = OutcomePicker(cfg)
    assert picker.pick("09121231001") == "busy" and picker.pick("+1555099") == "unreachable"
    plan = {d: OutcomePicker(cfg).pick(f"+4930{d}123") for d in "123456789"}
    assert plan == {"1": "answer", "2": "busy", "3": "congestion", "4": "no-answer",
                    "5": "answer-hold", "6": "rejected", "7": "unreachable",
                    "8": "timeout-408", "9": "unallocated"}
    first = [picker.pick("+49300123") for _ in range(50)]
    replay = OutcomePicker(cfg)
    assert first == [replay.pick("+49300123") for _ in range(50)]
    assert set(first) == {"answer", "congestion"}
    with pytest.raises(ValueError):
        SimConfig(rules=[("1", "ringing")])


def test_cli_serves_until_sigterm() -> None:
    env = {**os.environ, "DISPATCHER_AMI_USERNAME": "cli", "DISPATCHER_AMI_SECRET": "pw"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pbxsim.cli import main; "
         "raise SystemExit(main(['--port', '0', '--lines', '2']))"],
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        listening = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert listening is not None, line
        port = int(listening.group(1))
        with AMIProbe(port) as probe:
            assert probe.login("cli", "pw")["Message"] == "Authentication accepted"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait(5)
