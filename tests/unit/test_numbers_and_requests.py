"""Number rules and request validation: what may reach the AMI socket, and what never does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dispatcher.config import Settings
from dispatcher.domain.call_requests import (
    CallRequest,
    reserved_variable,
    variable_name_problem,
)
from dispatcher.domain.contact_import import check_csv_header, csv_rows, ndjson_rows, validate
from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.numbers import InvalidNumber, NumberPolicy
from web.models.calls import CallBatch, CallBody
from web.models.refusals import validated
from web.models.rules import ApiContext

POLICY = NumberPolicy()
DIALPLAN = NumberPolicy.from_settings(Settings())  # with the default ASTERISK_DIAL_PATTERNS
EXTENSIONS_CONF = Path(__file__).parents[2] / "asterisk-conf" / "templates" / "extensions.conf"


def parse_call_request(body: object, policy: NumberPolicy) -> CallRequest:
    """A call as the API's model takes it from a client's JSON."""
    api = ApiContext(policy)
    return validated(CallBody, body, api).call_request(api)


def parse_call_batch(body: object, policy: NumberPolicy) -> list[CallRequest]:
    api = ApiContext(policy)
    return [call.call_request(api) for call in validated(CallBatch, body, api).root]


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


class TestDialPatterns:
    """The national form is what the dialplan matches against ASTERISK_DIAL_PATTERNS."""

    @pytest.mark.parametrize(("text", "national"), [
        ("+98211234", "0211234"), ("+982121234", "02121234"), ("0211234", "0211234"),
        ("021 21234", "02121234")])
    def test_numbers_no_pattern_matches_are_refused_naming_the_setting(
            self, text: str, national: str) -> None:
        assert POLICY.parse(text).national == national  # valid numbers, without patterns
        for read in (DIALPLAN.parse, DIALPLAN.e164):
            with pytest.raises(InvalidNumber) as info:
                read(text)
            assert str(info.value) == (
                f"is not dialled by this PBX: its national form {national} matches none of "
                "ASTERISK_DIAL_PATTERNS (_09XXXXXXXXX, _0[1-8]XXXXXXXXX)")

    @pytest.mark.parametrize("text", ["09121234567", "+98 912 123 4567", "+982188776655",
                                      "021 8877 6655", "(0912) 123-4567"])
    def test_numbers_a_pattern_matches_pass_both_ways(self, text: str) -> None:
        assert DIALPLAN.parse(text).e164 == DIALPLAN.e164(text) == POLICY.e164(text)

    def test_the_full_parser_path_is_checked_too(self) -> None:
        # Not the short path (the default region is not IR): same rule, same message.
        policy = NumberPolicy(default_region="GB", allowed_regions=frozenset(),
                              dial_patterns=DIALPLAN.dial_patterns)
        with pytest.raises(InvalidNumber, match="national form 0211234"):
            policy.e164("+98211234")
        assert policy.e164("+989121234567") == "+989121234567"

    def test_requests_and_batches_name_the_field(self) -> None:
        with pytest.raises(ValidationFailed, match="ASTERISK_DIAL_PATTERNS") as info:
            parse_call_request({"to": "+98211234"}, DIALPLAN)
        assert info.value.field == "to"
        with pytest.raises(ValidationFailed) as info:
            parse_call_batch([{"to": "09121234567"}] * 3 + [{"to": "+982121234"}], DIALPLAN)
        assert info.value.field == "[3].to"

    def test_contact_rows_are_rejected_with_the_reason(self) -> None:
        rows = csv_rows(["to,ORDER\n", "09121234567,1\n", "+98211234,2\n"])
        contacts, rejects = validate(rows, DIALPLAN, json_fields=False)
        assert [c.to for c in contacts] == ["+989121234567"]
        [reject] = rejects
        assert reject.line == 3 and reject.reason.startswith("to is not dialled by this PBX")


# Names as a client might spell them (inheritance underscores, any case), with what they fall
# under: one of each category.
RESERVED = [
    ("TRUNK_LINES", "TRUNK_LINES"), ("__TRUNK_LINES", "TRUNK_LINES"),
    ("_trunk_lines", "TRUNK_LINES"), ("__Max_Call_Seconds", "MAX_CALL_SECONDS"),
    ("ANSWER_SOUND", "ANSWER_SOUND"), ("DEFAULT_CALLER_ID", "DEFAULT_CALLER_ID"),
    ("__call_id", "CALL_ID"), ("OUTBOUND_GROUP_ONCE", "OUTBOUND_GROUP*"),
    ("__outbound_group", "OUTBOUND_GROUP*"), ("GROUP", "GROUP*"), ("TRANSFER_CONTEXT", "TRANSFER*"),
    ("__FORWARD_CONTEXT", "FORWARD*"), ("dynamic_features", "DYNAMIC_*"),
    ("LIMIT_PLAYAUDIO_CALLER", "LIMIT_*"), ("DIALSTATUS", "DIALSTATUS"),
    ("HANGUPCAUSE_KEYS", "HANGUPCAUSE*"), ("MACRO_CONTEXT", "MACRO_*"),
    ("GOSUB_RETVAL", "GOSUB_*"), ("cdr", "CDR*"), ("CHANNEL", "CHANNEL*"),
    ("AST_X", "AST_*"), ("PJSIP_MEDIA_OFFER", "PJSIP_*"), ("SIPADDHEADER", "SIP*"),
    ("MASTER_CHANNEL", "MASTER_CHANNEL"), ("CALLERID", "CALLERID*"),
    ("CONNECTEDLINE_NUM", "CONNECTEDLINE*"), ("CONNECTED_LINE_SEND_SUB", "CONNECTED_LINE*"),
    ("REDIRECTING_SEND_SUB_ARGS", "REDIRECTING*"), ("FAXOPT", "FAXOPT*"),
    ("MIXMONITOR_FILENAME", "MIXMON*"), ("MONITOR_EXEC", "MONITOR*"),
    ("AUDIOHOOK_INHERIT", "AUDIOHOOK*"), ("TOUCH_MONITOR", "TOUCH_*"),
    ("BLINDTRANSFER", "BLINDTRANSFER"), ("ATTENDEDTRANSFER", "ATTENDEDTRANSFER"),
    ("BRIDGEPEER", "BRIDGE*"), ("BRIDGE_FEATURES", "BRIDGE*"),
    ("DIALEDPEERNAME", "DIALEDPEER*"), ("PICKUPMARK", "PICKUPMARK"), ("SPRINTF", "SPRINTF"),
    ("EXTEN", "EXTEN"), ("arg1", "ARG<n>"), ("GOTO_ON_BLINDXFR", "GOTO_ON_*"),
    ("PARKINGEXTEN", "PARK*"), ("SPYGROUP", "SPYGROUP"),
]


class TestReservedVariables:
    @pytest.mark.parametrize(("name", "rule"), RESERVED)
    def test_reserved_names_and_prefixes_match_without_underscores_in_any_case(
            self, name: str, rule: str) -> None:
        assert reserved_variable(name) == rule
        with pytest.raises(ValidationFailed) as info:
            parse_call_request({"to": "09121234567", "variables": {name: "9999"}}, POLICY)
        assert info.value.field == f"variables.{name}"
        assert repr(name) in info.value.message and "reserved" in info.value.message

    @pytest.mark.parametrize("name", ["ORDER", "__CUSTOMER", "_attempt", "lang", "TRUNK",
                                      "LINES", "CALLBACK_ID", "ARGUMENT", "CALL_ID2", "X"])
    def test_ordinary_names_are_not_reserved(self, name: str) -> None:
        assert reserved_variable(name) is None and variable_name_problem(name) is None

    @pytest.mark.parametrize("name", ["", "_", "__", "1A", "A-B", "A\n", "A" * 65])
    def test_malformed_names_are_refused_before_the_reserved_check(self, name: str) -> None:
        assert variable_name_problem(name) == (
            "is not a valid name: use [A-Za-z_][A-Za-z0-9_]*, at most 64 characters")

    def test_the_dialplan_names_say_so(self) -> None:
        assert variable_name_problem("__TRUNK_LINES") == (
            "is reserved: the dispatcher's dialplan reads TRUNK_LINES")
        assert variable_name_problem("limit_timeout_file") == (
            "is reserved: Asterisk gives LIMIT_* a meaning of its own")

    def test_contact_uploads_use_the_same_check(self) -> None:
        with pytest.raises(ValidationFailed, match="'__TRUNK_LINES' is reserved"):
            check_csv_header(["to", "ORDER", "__TRUNK_LINES"])
        rows = ndjson_rows(['{"to": "09121234567", "variables": {"cdr_prop": "x"}}\n'])
        contacts, [reject] = validate(rows, POLICY, json_fields=True)
        assert contacts == [] and "'cdr_prop' is reserved" in reject.reason

    def test_every_variable_the_rendered_dialplan_reads_or_sets_is_reserved(self) -> None:
        """The list must follow the template: a global or variable added there and not here
        would be one a client could shadow."""
        text = re.sub(r";.*", "", EXTENSIONS_CONF.read_text())  # comments out
        globals_section = text.split("[globals]", 1)[1].split("\n[", 1)[0]
        names = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=", globals_section, re.M))
        names |= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))  # ${NAME}
        names |= set(re.findall(r"GLOBAL\(([A-Za-z_][A-Za-z0-9_]*)\)", text))
        names |= set(re.findall(r"Set\(_*([A-Za-z_][A-Za-z0-9_]*)=", text))
        assert {"TRUNK_LINES", "MAX_CALL_SECONDS", "ANSWER_SOUND", "CALL_ID"} <= names
        assert {n for n in names if reserved_variable(n) is None} == set()
