"""OriginateRequest: the shape matches real Asterisk captures, and nothing unsafe gets through."""

from __future__ import annotations

import random
import uuid
from typing import Any, cast

import pytest

from dispatcher.adapters.ami.originate import (
    InvalidOriginate,
    OriginateRequest,
    validate_channel_ref,
    validate_variable,
)
from dispatcher.adapters.ami.protocol import UnsafeAMIValue, serialize_action
from tests.support.amitrace import load_trace

AID = "53d5dd62-9b41-4db7-bbeb-073fd443b5cc"


def make(**overrides: Any) -> OriginateRequest:
    fields: dict[str, Any] = {
        "action_id": AID,
        "channel": "PJSIP/09121234567@carrier-trunk",
        "timeout_s": 30,
        "caller_id": '"Dispatcher" <5551000>',
        "variables": {"CALL_ID": "c586a5b2-4867-4d0c-85c2-c2e2cb896d8f"},
        "context": "dispatcher-answered",
        "exten": "s",
        "priority": 1,
    }
    fields.update(overrides)
    return OriginateRequest(**fields)


def test_headers_match_the_real_originate_shape() -> None:
    real = next(m for m in load_trace("busy").sent() if m.get("Action") == "Originate")
    real_names = [k for k, _ in real.items if k != "OtherChannelId"]
    headers = make().headers()
    assert [k for k, _ in headers] == real_names
    values = dict(headers)
    assert values["ActionID"] == values["ChannelId"] == AID
    assert values["Timeout"] == "30000" == real["Timeout"]
    assert values["Async"] == "true" == real["Async"]
    assert values["CallerID"] == real["CallerID"]
    assert values["Variable"] == "CALL_ID=c586a5b2-4867-4d0c-85c2-c2e2cb896d8f"


def test_application_target_and_repeated_variables() -> None:
    request = make(context=None, exten=None, priority=None, application="Wait", data="30",
                   variables={"A": "1", "__B": "x.y:z"}, caller_id=None)
    headers = request.headers()
    assert headers[:5] == [("Action", "Originate"), ("ActionID", AID),
                           ("Channel", "PJSIP/09121234567@carrier-trunk"),
                           ("Application", "Wait"), ("Data", "30")]
    assert [v for k, v in headers if k == "Variable"] == ["A=1", "__B=x.y:z"]
    assert "CallerID" not in dict(headers)
    assert serialize_action(headers).count(b"\r\n\r\n") == 1


def test_bare_number_caller_id_and_local_channel() -> None:
    assert dict(make(caller_id="+989121234567", channel="Local/1005@outbound/n").headers())[
        "CallerID"] == "+989121234567"


@pytest.mark.parametrize("value", ["a,EXEC=x", 'a"b', "a\\b", "a;b", "a|b", "a&b", "$(x)",
                                   "${SHELL(id)}", "a{b}", "tab\there", "é", "x" * 257])
def test_variable_values_refused(value: str) -> None:
    with pytest.raises(InvalidOriginate):
        validate_variable("NAME", value)
    with pytest.raises(InvalidOriginate):
        make(variables={"NAME": value})


@pytest.mark.parametrize("name", ["", "1A", "A-B", "A B", "A=B", "A,B", "A\r\nB", "é", "A" * 65])
def test_variable_names_refused(name: str) -> None:
    with pytest.raises(InvalidOriginate):
        validate_variable(name, "ok")


@pytest.mark.parametrize("channel", [
    "/.*/", "/PJSIP/x", "PJSIP", "PJSIP/", "PJSIP/1 2@t", "PJSIP/1@t&PJSIP/2@t", "PJSIP/1,2",
    "PJSIP/1@t\r\nContext: evil", "PJSIP/1\x00", "PJSIP//x", " PJSIP/1@t", "PJSIP/é",
])
def test_bad_channels_refused(channel: str) -> None:
    with pytest.raises(InvalidOriginate):
        make(channel=channel)


@pytest.mark.parametrize("ref", ["/.*/", "/carrier/", "", "a b", "x\r\nAction: Command", "x\n"])
def test_hangup_target_refuses_regex_and_injection(ref: str) -> None:
    with pytest.raises(InvalidOriginate):
        validate_channel_ref(ref)


def test_hangup_target_accepts_names_and_uniqueids() -> None:
    for ref in ["PJSIP/carrier-trunk-0000000b", "Local/1005@outbound-00000000;1",
                "1795938608.29", AID]:
        assert validate_channel_ref(ref) == ref


@pytest.mark.parametrize("overrides", [
    {"action_id": "orig-a0225eda5e2d"},
    {"action_id": AID + "\r\n"},
    {"timeout_s": 0}, {"timeout_s": -5}, {"timeout_s": 30.5}, {"timeout_s": True},
    {"timeout_s": 10**6},
    {"caller_id": "Alice <123>"}, {"caller_id": '"Al\\"ice" <123>'}, {"caller_id": '"A" <12a>'},
    {"caller_id": '"' + "A" * 41 + '" <1>'}, {"caller_id": "Alice\r\n\r\nAction: Command"},
    {"context": "a b"}, {"context": None}, {"exten": "s,1"}, {"priority": 0},
    {"priority": "1"},
    {"application": "Wait"},  # both targets at once
    {"context": None, "exten": None, "priority": None, "application": "System", "data": "id"},
    {"context": None, "exten": None, "priority": None, "application": "Wait", "data": "${X}"},
    {"data": "30"},  # data without application
])
def test_other_fields_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidOriginate):
        make(**overrides)


def test_invalid_originate_is_a_value_error_not_an_ami_error() -> None:
    from dispatcher.adapters.ami.errors import AMIError

    assert issubclass(InvalidOriginate, ValueError)
    assert issubclass(InvalidOriginate, UnsafeAMIValue)
    assert not issubclass(InvalidOriginate, AMIError)


def test_mutating_the_callers_dict_afterwards_changes_nothing() -> None:
    variables = {"CALL_ID": "x"}
    request = make(variables=variables)
    variables["EVIL"] = "a,b"
    assert [v for k, v in request.headers() if k == "Variable"] == ["CALL_ID=x"]


def test_headers_revalidate_after_tampering() -> None:
    request = make()
    # ``variables`` is typed read-only; the request keeps a private dict, tampered with here
    cast(dict[str, str], request.variables)["EVIL"] = "a\r\nAction: Command"
    with pytest.raises(InvalidOriginate):
        request.headers()


# -- property-style: for every accepted input, exactly one message on the wire ---------------

_DANGEROUS = ["\r", "\n", "\r\n", "\x00", "\r\n\r\nAction: Command\r\nCommand: core stop now",
              "\nContext: evil", ",", '"', "\\", ";", "|", "&", "$", "{", "}", "(", ")", "/",
              " ", "<", ">", "é", "\u2028", "\x85", "\x0b", "\x0c", "\t", "=", "@", ":"]
_SAFE = list("abcXYZ019_-.+@")


def _random_text(rng: random.Random) -> str:
    parts = [rng.choice(_DANGEROUS if rng.random() < 0.3 else _SAFE)
             for _ in range(rng.randint(0, 12))]
    return "".join(parts)


_FIELDS = ["action_id", "channel", "caller_id", "var_name", "var_value", "context", "exten",
           "application", "data"]


def _mutated(field: str, payload: str) -> dict[str, Any]:
    if field == "var_name":
        return {"variables": {payload: "v"}}
    if field == "var_value":
        return {"variables": {"NAME": payload}}
    if field == "action_id":
        return {"action_id": payload if payload else str(uuid.uuid4())}
    if field == "channel":
        return {"channel": "PJSIP/" + payload}
    if field == "caller_id":
        return {"caller_id": f'"{payload}" <5551000>'}
    if field in ("application", "data"):
        base = {"context": None, "exten": None, "priority": None, "application": "Wait"}
        return {**base, field: payload}
    return {field: payload}


def test_property_every_accepted_request_serializes_to_exactly_one_message() -> None:
    rng = random.Random(20261129)
    accepted = refused = 0
    for _ in range(6000):
        field = rng.choice(_FIELDS)
        payload = _random_text(rng)
        try:
            headers = make(**_mutated(field, payload)).headers()
        except InvalidOriginate:
            refused += 1
            continue
        accepted += 1
        wire = serialize_action(headers)
        assert wire.count(b"\r\n\r\n") == 1 and wire.endswith(b"\r\n\r\n")
        assert b"\x00" not in wire and wire.count(b"\n") == wire.count(b"\r\n")
        assert wire.count(b"\nAction:") == 0 and wire.startswith(b"Action: Originate\r\n")
        assert all(len(line) <= 1024 for line in wire.split(b"\r\n"))
    assert accepted > 500 and refused > 500


@pytest.mark.parametrize("field", _FIELDS)
@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "x\r\n\r\nAction: Command\r\n"])
def test_control_characters_refused_in_every_field(field: str, bad: str) -> None:
    with pytest.raises(InvalidOriginate):
        make(**_mutated(field, "ok" + bad))
