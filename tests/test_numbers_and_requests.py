"""Number rules and request validation: what may reach the AMI socket, and what never does."""

from __future__ import annotations

import pytest

from dispatcher.call_requests import parse_call_request
from dispatcher.errors import ValidationFailed
from dispatcher.numbers import InvalidNumber, NumberPolicy

POLICY = NumberPolicy()


class TestNumbers:
    @pytest.mark.parametrize("text", ["+989121234567", "09121234567", "0912 123 4567",
                                      "+98 (912) 123-4567", "9121234567"])
    def test_iranian_mobile_numbers_normalise_to_e164_and_national(self, text: str) -> None:
        dest = POLICY.parse(text)
        assert dest.e164 == "+989121234567"
        assert dest.national == "09121234567"

    def test_dial_string_comes_from_the_template(self) -> None:
        policy = NumberPolicy(dial_template="PJSIP/{e164_digits}@carrier-trunk")
        assert policy.dial_string(policy.parse("09121234567")) == "PJSIP/989121234567@carrier-trunk"
        assert POLICY.dial_string(POLICY.parse("09121234567")) == "PJSIP/09121234567@carrier-trunk"

    @pytest.mark.parametrize("text", ["", "   ", "12", "+98912", "abc", "0912123456789012",
                                      None, 9121234567, ["09121234567"]])
    def test_things_that_are_not_valid_numbers_are_refused(self, text: object) -> None:
        with pytest.raises(InvalidNumber):
            POLICY.parse(text)

    @pytest.mark.parametrize("attack", [
        "09121234567\r\nAction: Command", "09121234567\n", "0912\r1234567", "0912\x001234567",
        "09121234567@evil-trunk", "09121234567&PJSIP/1@x", "/.*/", "09121234567,1",
    ])
    def test_injection_attempts_are_refused_before_parsing(self, attack: str) -> None:
        with pytest.raises(InvalidNumber):
            POLICY.parse(attack)

    def test_numbers_outside_the_allowed_regions_are_refused(self) -> None:
        with pytest.raises(InvalidNumber, match="region US"):
            POLICY.parse("+12025550123")
        assert NumberPolicy(allowed_regions=frozenset({"IR", "US"})).parse("+12025550123")

    def test_a_template_that_renders_an_unsafe_dial_string_is_refused(self) -> None:
        policy = NumberPolicy(dial_template="PJSIP/{national}@trunk\r\nAction: Command")
        with pytest.raises(InvalidNumber):
            policy.dial_string(policy.parse("09121234567"))


class TestCallRequests:
    def test_a_minimal_request_gets_defaults(self) -> None:
        request = parse_call_request({"to": "09121234567"}, POLICY)
        assert (request.to, request.timeout, request.variables, request.caller_id) == (
            "+989121234567", 30, {}, None)
        assert request.dial_string == "PJSIP/09121234567@carrier-trunk"

    def test_a_full_request_is_kept(self) -> None:
        request = parse_call_request(
            {"to": "+989121234567", "from": "+982112345678", "timeout": 45,
             "variables": {"ORDER": "A-17", "lang": "fa"}, "metadata": {"x": [1, 2]}}, POLICY)
        assert request.caller_id == "+982112345678" and request.timeout == 45
        assert request.variables == {"ORDER": "A-17", "lang": "fa"}
        assert request.metadata == {"x": [1, 2]}

    @pytest.mark.parametrize(("body", "field"), [
        ({}, "to"),
        ({"to": "123"}, "to"),
        ({"to": "09121234567", "timeout": 4}, "timeout"),
        ({"to": "09121234567", "timeout": 121}, "timeout"),
        ({"to": "09121234567", "timeout": "30"}, "timeout"),
        ({"to": "09121234567", "timeout": True}, "timeout"),
        ({"to": "09121234567", "from": "Alice\r\n\r\nAction: Command"}, "from"),
        ({"to": "09121234567", "from": "\"x\" <1>"}, "from"),
        ({"to": "09121234567", "variables": {"A": "x,EXEC=1"}}, "variables.A"),
        ({"to": "09121234567", "variables": {"A": "x\r\nAction: Hangup"}}, "variables.A"),
        ({"to": "09121234567", "variables": {"A": "$(SHELL(id))"}}, "variables.A"),
        ({"to": "09121234567", "variables": {"A": '"quoted"'}}, "variables.A"),
        ({"to": "09121234567", "variables": {"1BAD": "x"}}, "variables.1BAD"),
        ({"to": "09121234567", "variables": {"A B": "x"}}, "variables.A B"),
        ({"to": "09121234567", "variables": {"CALL_ID": "spoof"}}, "variables.CALL_ID"),
        ({"to": "09121234567", "variables": {"__CALL_ID": "spoof"}}, "variables.__CALL_ID"),
        ({"to": "09121234567", "variables": {"A": {"nested": 1}}}, "variables.A"),
        ({"to": "09121234567", "variables": ["A=1"]}, "variables"),
        ({"to": "09121234567", "channel": "PJSIP/1@other"}, "channel"),
    ])
    def test_bad_fields_are_refused_and_named(self, body: dict[str, object], field: str) -> None:
        with pytest.raises(ValidationFailed) as info:
            parse_call_request(body, POLICY)
        assert info.value.field == field

    def test_the_body_must_be_an_object(self) -> None:
        with pytest.raises(ValidationFailed):
            parse_call_request(["to"], POLICY)

    def test_the_fingerprint_tells_different_requests_apart(self) -> None:
        a = parse_call_request({"to": "09121234567"}, POLICY)
        b = parse_call_request({"to": "+989121234567"}, POLICY)
        c = parse_call_request({"to": "09121234567", "timeout": 31}, POLICY)
        assert a.fingerprint() == b.fingerprint() != c.fingerprint()
