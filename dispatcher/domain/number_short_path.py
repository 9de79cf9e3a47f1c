"""The short path of number parsing: the usual spellings of the default region's numbers,
checked against the region's own phonenumbers metadata without the full parser.

A 100,000-row upload spends most of its time normalising numbers; this path gives the same
answers as :func:`phonenumbers.parse` plus the type checks for what it accepts, and returns
None for anything else, which then takes the full parser (so errors read the same).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

# Number types no call may go to, whichever path parsed the number.
REFUSED_TYPES = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST,
                           PhoneNumberType.UAN, PhoneNumberType.VOICEMAIL})


_SEPARATORS = str.maketrans("", "", " -.()")


# The number types in the order phonenumbers tries them (phonenumberutil._number_type_helper):
# the first that matches is the number's type. Mobile is only tried on its own when its pattern
# differs from the fixed-line one.
_TYPE_ORDER = (("premium_rate", PhoneNumberType.PREMIUM_RATE),
               ("toll_free", PhoneNumberType.TOLL_FREE),
               ("shared_cost", PhoneNumberType.SHARED_COST), ("voip", PhoneNumberType.VOIP),
               ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
               ("pager", PhoneNumberType.PAGER), ("uan", PhoneNumberType.UAN),
               ("voicemail", PhoneNumberType.VOICEMAIL),
               ("fixed_line", PhoneNumberType.FIXED_LINE), ("mobile", PhoneNumberType.MOBILE))


@dataclass(frozen=True)
class _TypeRule:
    """One of a region's number descriptions, compiled once: lengths, then the pattern."""

    lengths: frozenset[int]  # empty: any length
    pattern: re.Pattern[str]
    dialable: bool  # a valid type we dial (not premium, shared-cost, UAN or voicemail)

    def matches(self, national: str) -> bool:
        return ((not self.lengths or len(national) in self.lengths)
                and self.pattern.fullmatch(national) is not None)


_TypeRules = tuple[_TypeRule | None, tuple[_TypeRule, ...]]


def type_rules(metadata: PhoneMetadata) -> _TypeRules:
    """The general description and the typed ones, in phonenumbers' order, without the ones
    that can never match (no description or an empty pattern, as phonenumbers treats them)."""
    def rule(name: str, kind: PhoneNumberType) -> _TypeRule | None:
        desc = getattr(metadata, name)
        if desc is None or not desc.national_number_pattern:
            return None
        return _TypeRule(frozenset(desc.possible_length), re.compile(desc.national_number_pattern),
                         kind not in REFUSED_TYPES)

    typed = [(name, rule(name, kind)) for name, kind in _TYPE_ORDER]
    ordered = tuple(r for name, r in typed if r is not None and not (
        name == "mobile" and metadata.same_mobile_and_fixed_line_pattern))
    return rule("general_desc", PhoneNumberType.UNKNOWN), ordered


def dialable(national: str, rules: _TypeRules) -> bool:
    """Whether phonenumbers would give ``national`` a type we dial (see :data:`_TYPE_ORDER`);
    a quarter of a 100,000-row upload went to its per-number lookups of the same patterns."""
    general, ordered = rules
    if general is None or not general.matches(national):
        return False
    for typed in ordered:
        if typed.matches(national):
            return typed.dialable
    return False


@lru_cache(maxsize=16)
def _short_path_rules(region: str) -> tuple[str, str, _TypeRules] | None:
    """(country code, national prefix, type rules) when a region's numbers can be read without
    the full parser: a country code of its own, a plain national prefix, no rewrite rules."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or not metadata.national_prefix:
        return None
    code = metadata.country_code
    if phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code) != (region,):
        return None
    if metadata.national_prefix_transform_rule or (
            metadata.national_prefix_for_parsing not in (None, metadata.national_prefix)):
        return None
    return str(code), metadata.national_prefix, type_rules(metadata)


def fast_e164(text: str, region: str, allowed: frozenset[str]) -> str | None:
    """E.164 for a valid, allowed, non-premium number of ``region`` written nationally or with
    its country code; None means "ask the full parser"."""
    parts = fast_parts(text, region, allowed)
    return None if parts is None else f"+{parts[0]}{parts[1]}"


def fast_parts(text: str, region: str, allowed: frozenset[str]) -> tuple[str, str] | None:
    """(country code, national significant number) for what :func:`fast_e164` answers."""
    if len(text) > 32 or (allowed and region not in allowed):
        return None
    known = _short_path_rules(region)
    if known is None:
        return None
    code, prefix, rules = known
    digits = text.translate(_SEPARATORS)
    if digits.startswith("+"):
        if not digits.startswith(code, 1):
            return None
        national = digits[1 + len(code):]
    elif digits.startswith(prefix):
        national = digits[len(prefix):]
    else:
        return None
    if not national.isdigit() or not national.isascii() or national.startswith("0"):
        return None
    if not dialable(national, rules):
        return None
    return code, national


def national_form(number: phonenumbers.PhoneNumber) -> str:
    """The national form's digits, as the dial template's ``{national}`` gets them."""
    return _NON_DIGITS.sub("", phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))


class _NationalFormat(NamedTuple):
    """One of a region's national formats, compiled once."""

    leading: re.Pattern[str] | None  # the most detailed leading-digits pattern, as phonenumbers
    pattern: re.Pattern[str]
    rule: str  # the format with the national prefix rule applied
    parts: tuple[str | int, ...] | None  # the rule as digits it writes and groups it copies


_FIRST_GROUP = re.compile(r"(\\\d)")  # phonenumbers' _FIRST_GROUP_PATTERN
_GROUP_REF = re.compile(r"\\(\d)")
_NON_DIGITS = re.compile(r"[^0-9]")


def _rule_parts(rule: str) -> tuple[str | int, ...] | None:
    """``0\\1 \\2`` as ("0", 1, 2); None for a rule holding anything else (left to
    phonenumbers' own substitution)."""
    pieces = _GROUP_REF.split(rule)
    if any("\\" in text for text in pieces[::2]):
        return None
    parts = [int(p) if i % 2 else _NON_DIGITS.sub("", p) for i, p in enumerate(pieces)]
    return tuple(p for p in parts if p != "")


@lru_cache(maxsize=16)
def _national_formats(region: str) -> tuple[_NationalFormat, ...]:
    """A region's national formats, in phonenumbers' order."""
    metadata = PhoneMetadata.metadata_for_region(region)
    formats = []
    for fmt in metadata.number_format if metadata else ():
        rule = fmt.format
        if fmt.national_prefix_formatting_rule:
            rule = _FIRST_GROUP.sub(fmt.national_prefix_formatting_rule, rule, count=1)
        leading = re.compile(fmt.leading_digits_pattern[-1]) if fmt.leading_digits_pattern \
            else None
        formats.append(_NationalFormat(leading, re.compile(fmt.pattern), rule, _rule_parts(rule)))
    return tuple(formats)


def fast_national(nsn: str, region: str) -> str:
    """What :func:`national_form` gives for a number the short path read, without building a
    PhoneNumber and formatting it (a 100,000-row upload checks every row against the dial
    patterns, and formatting would cost three times the rest of the short path):
    phonenumbers' choice of format (the first whose leading digits and pattern match; none:
    the bare number), then its rule's digits and the matched groups."""
    for leading, pattern, rule, parts in _national_formats(region):
        if leading is not None and not leading.match(nsn):
            continue
        match = pattern.fullmatch(nsn)
        if match is None:
            continue
        if parts is None:
            return _NON_DIGITS.sub("", pattern.sub(rule, nsn))
        groups = match.groups("")
        return "".join([p if isinstance(p, str) else groups[p - 1] for p in parts])
    return nsn
