"""The short path for bulk uploads must agree with the full phone number parser: whenever it
answers, the full parser gives the same E.164 number; otherwise the full parser decides."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType
from phonenumbers.phonenumberutil import _number_type_helper

from dispatcher.domain.number_short_path import REFUSED_TYPES, dialable, fast_e164, type_rules
from dispatcher.domain.numbers import InvalidNumber, NumberPolicy

REGIONS = ["IR", "GB", "DE", "FR", "IN", "TR", "AE", "IT", "US", "RU"]
SEPARATORS = st.sampled_from(["", " ", "-", ".", "(", ")"])


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str]:
    region = draw(st.sampled_from(REGIONS))
    code = str(phonenumbers.country_code_for_region(region))
    digits = draw(st.text("0123456789", min_size=4, max_size=13))
    # Real-looking numbers often enough to reach the valid branch.
    example = phonenumbers.example_number_for_type(
        region, draw(st.sampled_from([phonenumbers.PhoneNumberType.MOBILE,
                                      phonenumbers.PhoneNumberType.FIXED_LINE])))
    if example is not None and draw(st.booleans()):
        nsn = str(example.national_number)
        keep = draw(st.integers(min_value=2, max_value=len(nsn)))
        digits = nsn[:keep] + digits[: len(nsn) - keep]
    prefix = draw(st.sampled_from(["", "0", "+" + code, "+" + code + "0", "00" + code, "+"]))
    text = prefix + digits
    out = []
    for ch in text:
        out.append(ch)
        out.append(draw(SEPARATORS) if draw(st.integers(0, 5)) == 0 else "")
    return region, "".join(out)[:32]


def full_parser(policy: NumberPolicy, text: str) -> str | None:
    try:
        number = policy._checked(text)
    except InvalidNumber:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


@settings(max_examples=3000, deadline=None)
@given(written_numbers(), st.booleans())
def test_the_short_path_never_disagrees_with_the_full_parser(case: tuple[str, str],
                                                             restricted: bool) -> None:
    region, text = case
    allowed = frozenset({region}) if restricted else frozenset()
    policy = NumberPolicy(default_region=region, allowed_regions=allowed)
    fast = fast_e164(text, region, allowed)
    if fast is not None:
        assert fast == full_parser(policy, text), text


@pytest.mark.parametrize("text", ["09121234567", "0912 123 4567", "+98 912 123 4567",
                                  "+98 (912) 123-4567"])
def test_common_iranian_spellings_take_the_short_path(text: str) -> None:
    assert fast_e164(text, "IR", frozenset({"IR"})) == "+989121234567"


@pytest.mark.parametrize("text", ["+44 20 7946 0958", "9121234567", "+98 0912 123 4567",
                                  "00989121234567", "0912 123 456"])
def test_everything_else_is_left_to_the_full_parser(text: str) -> None:
    assert fast_e164(text, "IR", frozenset()) is None


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(REGIONS), st.data())
def test_the_compiled_type_rules_agree_with_phonenumbers_both_ways(region: str,
                                                                   data: st.DataObject) -> None:
    """Refusing a good number only costs the full parser's time, but accepting a bad one would
    store it: check both directions against phonenumbers' own type lookup."""
    metadata = PhoneMetadata.metadata_for_region(region)
    national = data.draw(st.text("0123456789", min_size=3, max_size=12))
    example = phonenumbers.example_number_for_type(
        region, data.draw(st.sampled_from(list(PhoneNumberType.values()))))
    if example is not None and data.draw(st.booleans()):
        nsn = str(example.national_number)
        keep = data.draw(st.integers(min_value=1, max_value=len(nsn)))
        national = nsn[:keep] + national[: len(nsn) - keep]
    kind = _number_type_helper(national, metadata)
    expected = kind != PhoneNumberType.UNKNOWN and kind not in REFUSED_TYPES
    assert dialable(national, type_rules(metadata)) == expected, (region, national, kind)
