"""ASTERISK_DIAL_PATTERNS on the dispatcher's side: the pattern compiler, the settings that read
it, the short path's national form it is matched against, and the caller ID start-up check."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.asterisk import settings as asterisk_settings
from dispatcher.asterisk.values import pattern_regex
from dispatcher.config import Settings, SettingsError, load_settings
from dispatcher.domain.dial_patterns import (
    DEFAULT_DIAL_PATTERNS,
    DialPatternError,
    compile_patterns,
)
from dispatcher.domain.number_short_path import fast_national, fast_parts
from dispatcher.domain.numbers import NumberPolicy


def admits(patterns: str, extension: str) -> bool:
    return compile_patterns(patterns).admits(extension)


class TestCompile:
    @pytest.mark.parametrize(("pattern", "yes", "no"), [
        ("_X", ["0", "9"], ["", "a", "12"]),
        ("_Z", ["1", "9"], ["0"]),
        ("_N", ["2", "9"], ["0", "1"]),
        ("_x", ["5"], ["55"]),  # wildcards in either case, as Asterisk reads them
        ("_n", ["2"], ["1"]),
        ("_z", ["1"], ["0"]),
        ("_0[1-8]XX", ["0100", "0899"], ["0000", "0900", "010"]),
        ("_[125]", ["1", "2", "5"], ["3", "4"]),
        ("_[13-5#]", ["1", "3", "4", "5", "#"], ["2", "6"]),
        ("_[*+]X", ["*1", "+9"], ["#1"]),
        ("_09.", ["091", "0912345678901234"], ["09", "08123"]),
        ("_09!", ["09", "091", "0912345"], ["0", "19"]),
        ("_NXX-XXXX", ["2001234"], ["200-1234", "1001234"]),  # '-' is only decoration
        ("0912", ["0912"], ["09123", "091"]),  # a literal extension
        ("555-1212", ["5551212"], ["555-1212"]),
    ])
    def test_asterisk_pattern_rules(self, pattern: str, yes: list[str], no: list[str]) -> None:
        for extension in yes:
            assert admits(pattern, extension), (pattern, extension)
        for extension in no:
            assert not admits(pattern, extension), (pattern, extension)

    def test_a_list_is_one_alternation_and_compiled_once(self) -> None:
        first = compile_patterns(DEFAULT_DIAL_PATTERNS)
        assert compile_patterns(DEFAULT_DIAL_PATTERNS) is first
        assert first.patterns == ("_09XXXXXXXXX", "_0[1-8]XXXXXXXXX")
        assert first.admits("09121234567") and first.admits("02188776655")
        for refused in ("0211234", "02121234", "9121234567", "00989121234567", "+989121234567",
                        "091212345678"):
            assert not first.admits(refused), refused
        assert compile_patterns(" _09XXXXXXXXX , ,_0[1-8]XXXXXXXXX ").patterns == first.patterns

    @pytest.mark.parametrize("pattern", ["_09XXXXXXXXX", "_0[1-8]XXXXXXXXX", "_0912XXXXXXX",
                                         "_0[12][0-9]XXXXXXXX", "_ZXXNXX"])
    def test_strict_patterns_match_what_the_asterisk_renderer_checks_against(
            self, pattern: str) -> None:
        """dispatcher.asterisk.values.pattern_regex (used by the config tests) agrees."""
        rendered = pattern_regex(pattern)
        ours = compile_patterns(pattern)
        for number in ("09121234567", "02112345678", "0912123456", "02191234567", "123456",
                       "212345", "91234567890"):
            assert ours.admits(number) == bool(rendered.match(number)), (pattern, number)

    def test_the_default_is_the_one_asterisk_renders(self) -> None:
        assert DEFAULT_DIAL_PATTERNS == asterisk_settings.DEFAULT_DIAL_PATTERNS

    @pytest.mark.parametrize(("text", "says"), [
        ("", "at least one pattern"),
        (" , ", "at least one pattern"),
        ("_0[1-8XX", "without its ']'"),
        ("_0[]XX", "empty '[]'"),
        ("_0[8-1]X", "not a digit range"),
        ("_0[1-]X", "needs both ends"),
        ("_0[-1]X", "needs both ends"),
        ("_0[a-z]X", "'a' inside"),
        ("_09Y", "'Y' is not a digit"),
        ("_09.X", "must end the pattern"),
        ("_09!1", "must end the pattern"),
        ("_", "matches no extension"),
        ("_--", "matches no extension"),
        ("09X", "not allowed in a literal extension"),
        ("_09XX,_09XX", "listed twice"),
        ("_09XX\n[evil]", "newline or control character"),
        ("_09 XX", "' ' is not a digit"),
        ("_" + "X" * 80, "1-80 characters"),
    ])
    def test_malformed_patterns_are_refused_with_the_reason(self, text: str, says: str) -> None:
        with pytest.raises(DialPatternError, match=says.replace("[", r"\[").replace("]", r"\]")):
            compile_patterns(text)

    def test_a_long_list_is_summarised(self) -> None:
        many = ",".join(f"_0{d}{d}XXXXXXXX" for d in range(1, 10))
        summary = compile_patterns(many).summary
        assert summary.startswith("ASTERISK_DIAL_PATTERNS (_011XXXXXXXX, ")
        assert summary.endswith(", ...)") and len(summary) < 140


class TestSettings:
    def test_the_default_applies_when_unset_or_blank(self) -> None:
        assert load_settings({}).dial_patterns == DEFAULT_DIAL_PATTERNS
        assert load_settings({"ASTERISK_DIAL_PATTERNS": "  "}).dial_patterns == \
            DEFAULT_DIAL_PATTERNS
        assert Settings().dial_patterns == DEFAULT_DIAL_PATTERNS

    def test_asterisk_dial_patterns_is_read_and_reaches_the_number_policy(self) -> None:
        loaded = load_settings({"ASTERISK_DIAL_PATTERNS": " _021XXXX!,_09XXXXXXXXX "})
        assert loaded.dial_patterns == "_021XXXX!,_09XXXXXXXXX"
        policy = NumberPolicy.from_settings(loaded)
        assert policy.parse("+98211234").national == "0211234"
        assert policy.e164("+982121234") == "+982121234"

    def test_a_malformed_pattern_stops_the_process_naming_the_variable(self) -> None:
        with pytest.raises(SettingsError, match="^ASTERISK_DIAL_PATTERNS: '_0\\[1-8' has"):
            load_settings({"ASTERISK_DIAL_PATTERNS": "_0[1-8"})
        with pytest.raises(SettingsError, match="ASTERISK_DIAL_PATTERNS"):
            NumberPolicy.from_settings(Settings(dial_patterns="_09Q"))

    def test_the_dispatcher_prefix_is_not_a_second_spelling(self) -> None:
        with pytest.raises(SettingsError, match="DISPATCHER_DIAL_PATTERNS.*ASTERISK_DIAL_PATTERNS"):
            load_settings({"DISPATCHER_DIAL_PATTERNS": "_X."})

    def test_a_missing_required_setting_is_named_by_its_variable(self) -> None:
        with pytest.raises(SettingsError, match="ASTERISK_DIAL_PATTERNS"):
            Settings(dial_patterns="").require("dial_patterns")


class TestCallerId:
    def test_no_default_and_no_permission_is_refused_naming_both_variables(self) -> None:
        with pytest.raises(SettingsError) as info:
            Settings().require_caller_id()
        message = str(info.value)
        assert "\n" not in message
        assert "DISPATCHER_DEFAULT_CALLER_ID" in message
        assert "DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID" in message
        with pytest.raises(SettingsError):
            Settings(default_caller_id="   ").require_caller_id()

    def test_a_default_or_an_explicit_permission_is_enough(self) -> None:
        assert Settings(default_caller_id="+982112345678").require_caller_id().default_caller_id
        assert Settings(allow_anonymous_caller_id=True).require_caller_id()

    def test_a_malformed_default_is_refused(self) -> None:
        with pytest.raises(SettingsError, match="DISPATCHER_DEFAULT_CALLER_ID must be"):
            Settings(default_caller_id="Alice <123>").require_caller_id()

    def test_the_flag_is_read_from_the_environment_and_defaults_to_false(self) -> None:
        assert load_settings({}).allow_anonymous_caller_id is False
        env = {"DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID": "true"}
        assert load_settings(env).require_caller_id().allow_anonymous_caller_id is True
        with pytest.raises(SettingsError, match="DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID"):
            load_settings({"DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID": "perhaps"})



REGIONS = ["IR", "GB", "DE", "FR", "IN", "TR", "AE", "IT", "RU", "BR", "JP", "AU"]


@st.composite
def region_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A region and a number near one of its example numbers, in international form."""
    region = draw(st.sampled_from(REGIONS))
    kind = draw(st.sampled_from([phonenumbers.PhoneNumberType.MOBILE,
                                 phonenumbers.PhoneNumberType.FIXED_LINE,
                                 phonenumbers.PhoneNumberType.TOLL_FREE]))
    example = phonenumbers.example_number_for_type(region, kind)
    if example is None:
        example = phonenumbers.example_number(region)
    assert example is not None, region
    nsn = str(example.national_number)
    keep = draw(st.integers(min_value=1, max_value=len(nsn)))
    tail = draw(st.text("0123456789", min_size=0, max_size=len(nsn) - keep + 2))
    return region, f"+{example.country_code}{nsn[:keep]}{tail}"


@settings(max_examples=3000, deadline=None)
@given(region_numbers())
def test_the_short_paths_national_form_is_the_full_parsers(case: tuple[str, str]) -> None:
    """Uploads match the short path's national form against the patterns; the dial string is
    built from the full parser's. They must be the same digits."""
    region, text = case
    parts = fast_parts(text, region, frozenset())
    if parts is None:
        return
    full = NumberPolicy(default_region=region, allowed_regions=frozenset()).parse(text)
    assert fast_national(parts[1], region) == full.national, text
