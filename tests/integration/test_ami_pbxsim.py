"""The AMI layer against the project's Asterisk simulator.

The scripted peer in ``test_ami_peer`` checks misbehaviour; this checks that both clients agree
with a faithful AMI implementation end to end: worker Originate (Events off) -> consumer sees the
call's events joined by the attempt UUID.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Unpack

import pytest

from dispatcher.adapters.ami.client import AMIEventClient
from dispatcher.adapters.ami.errors import AMIActionFailed, AMIAuthError
from dispatcher.adapters.ami.manager import WorkerAMISession
from dispatcher.adapters.ami.originate import OriginateRequest
from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.config import AMIEndpoint
from pbxsim import PBXSimulator, SimConfig
from tests.support.fake_ami import OriginateOptions, request


@pytest.fixture
def sim() -> Iterator[PBXSimulator]:
    simulator = PBXSimulator(SimConfig(users={"u": "s"}, time_scale=0.02,
                                       login_failure_delay=0.05))
    simulator.start()
    yield simulator
    simulator.stop()


def endpoint(sim: PBXSimulator, secret: str = "s") -> AMIEndpoint:
    return AMIEndpoint("127.0.0.1", sim.port, "u", secret, connect_timeout=2.0,
                       action_timeout=2.0)


def originate(number: str, **kw: Unpack[OriginateOptions]) -> OriginateRequest:
    return request(channel=f"PJSIP/{number}@carrier-trunk", **kw)


def events_until(client: AMIEventClient, done: Callable[[list[AMIMessage]], bool],
                 timeout: float = 5.0) -> list[AMIMessage]:
    seen: list[AMIMessage] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = client.next_event(0.2)
        if ev is not None:
            seen.append(ev)
            if done(seen):
                return seen
    raise AssertionError(f"events never completed: {[e.name for e in seen]}")


def test_worker_originate_and_consumer_events_join_by_attempt_uuid(sim: PBXSimulator) -> None:
    consumer = AMIEventClient(endpoint(sim))
    booted = consumer.connect()
    assert booted is not None and booted.name == "FullyBooted"
    worker = WorkerAMISession(endpoint(sim))
    req = originate("09121231001")  # ...1xxx: answer, then remote hangup
    worker.originate(req)
    seen = events_until(consumer, lambda evs: any(
        e.name == "Hangup" and e.get("Uniqueid") == req.action_id for e in evs))
    mine = [e for e in seen if req.action_id in (e.get("Uniqueid"), e.get("ActionID"))]
    names = [e.name for e in mine]
    assert "Newchannel" in names and "OriginateResponse" in names
    response = next(e for e in mine if e.name == "OriginateResponse")
    assert response["ActionID"] == req.action_id and response["Reason"] == "4"
    assert sim.originate_counts() == {req.action_id: 1}
    worker.close()
    consumer.close()


def test_list_actions_and_hangup_by_uniqueid(sim: PBXSimulator) -> None:
    consumer = AMIEventClient(endpoint(sim))
    consumer.connect()
    worker = WorkerAMISession(endpoint(sim))
    req = originate("09121235001")  # ...5xxx: answer and hold
    worker.originate(req)
    events_until(consumer, lambda evs: any(
        e.name == "OriginateResponse" and e.get("ActionID") == req.action_id for e in evs))
    channels = consumer.request_list([("Action", "CoreShowChannels")])
    assert [c["Uniqueid"] for c in channels] == [req.action_id]
    status = consumer.request_list([("Action", "Status"), ("Channel", req.action_id),
                                    ("Variables", "CALL_ID")])
    assert len(status) == 1 and status[0].get("Variable") == "CALL_ID=42"
    assert worker.hangup(req.action_id) is True
    events_until(consumer, lambda evs: any(
        e.name == "Hangup" and e.get("Uniqueid") == req.action_id for e in evs))
    assert worker.hangup(req.action_id) is False
    assert consumer.request_list([("Action", "CoreShowChannels")]) == []
    worker.ping()
    consumer.ping()
    worker.close()
    consumer.close()


def test_login_failure_and_events_off(sim: PBXSimulator) -> None:
    with pytest.raises(AMIAuthError):
        WorkerAMISession(endpoint(sim, secret="wrong"))
    with pytest.raises(AMIAuthError):
        AMIEventClient(endpoint(sim, secret="wrong")).connect()
    quiet = AMIEventClient(endpoint(sim), events="off")
    assert quiet.connect() is None
    worker = WorkerAMISession(endpoint(sim))
    worker.originate(originate("09121232001"))  # busy
    assert quiet.next_event(0.5) is None  # Events: off really is off
    quiet.close()
    worker.close()


def test_extension_missing_is_action_failed_if_simulated(sim: PBXSimulator) -> None:
    worker = WorkerAMISession(endpoint(sim))
    try:
        worker.originate(originate("09121231001", context="no-such-context"))
    except AMIActionFailed as exc:
        assert "xtension" in exc.message
    assert worker.connected
    worker.close()
