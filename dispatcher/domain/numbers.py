"""Number rules: what a client may ask us to dial, and how it becomes a trunk dial string.

Everything here runs before a call row exists, so a bad number is refused with 422 and changes
nothing. The dial string is built only from a validated number and a template from settings,
never from client text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, PhoneNumberType

from dispatcher.config import Settings, dial_pattern_set
from dispatcher.domain.dial_patterns import DialPatterns

_DIAL_STRING = re.compile(r"^[A-Za-z0-9]+/[A-Za-z0-9+#*@._\-]{1,120}$")
_CALLER_ID = re.compile(r"^\+?[0-9]{2,15}$")
_REFUSED_TYPES = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST,
                            PhoneNumberType.UAN, PhoneNumberType.VOICEMAIL})
_PARSE_ERRORS = {getattr(NumberParseException, name): name.lower()
                 for name in ("INVALID_COUNTRY_CODE", "NOT_A_NUMBER", "TOO_SHORT_AFTER_IDD",
                              "TOO_SHORT_NSN", "TOO_LONG")}


class InvalidNumber(ValueError):
    """The text is not a number we will dial."""


@dataclass(frozen=True)
class Destination:
    e164: str
    national: str
    region: str | None


@dataclass(frozen=True)
class NumberPolicy:
    default_region: str = "IR"
    allowed_regions: frozenset[str] = frozenset({"IR"})
    dial_template: str = "PJSIP/{national}@carrier-trunk"
    # What the dialplan dials (ASTERISK_DIAL_PATTERNS), matched against the national form;
    # None: no such check (do-not-call lists take any number, and so do bare test policies).
    dial_patterns: DialPatterns | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> NumberPolicy:
        return cls(
            default_region=settings.default_region,
            allowed_regions=frozenset(r.strip().upper()
                                      for r in settings.allowed_regions.split(",") if r.strip()),
            dial_template=settings.dial_template,
            dial_patterns=dial_pattern_set(settings),
        )

    def parse(self, text: object) -> Destination:
        """Parse and normalise ``text``; raise :class:`InvalidNumber` with a reason a client
        can act on."""
        number = self._checked(text)
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        national = _national(number)
        self._check_dialled(national)
        return Destination(e164=e164, national=national,
                           region=phonenumbers.region_code_for_number(number))

    def _check_dialled(self, national: str) -> None:
        """Refuse here what the dialplan would refuse after Originate had already built both
        halves of a Local channel, as an opaque failed call."""
        if self.dial_patterns is not None and not self.dial_patterns.admits(national):
            raise InvalidNumber(f"is not dialled by this PBX: its national form {national} "
                                f"matches none of {self.dial_patterns.summary}")

    def e164(self, text: object) -> str:
        """The same rules as :meth:`parse`, for bulk uploads: only the E.164 form, which is
        all a stored contact needs (its dial string is built when it is dialled).

        Numbers written the usual ways for the default region (``0912 345 6789``,
        ``+98 912 345 6789``) take a short path that applies the region's own metadata
        patterns directly; anything else, and anything the short path would refuse, goes
        through the full parser, so the answers (and the error messages) are the same. A
        100,000-row upload spends most of its time here.
        """
        if isinstance(text, str):
            fast = _fast_parts(text, self.default_region, self.allowed_regions)
            if fast is not None:
                code, nsn = fast
                if self.dial_patterns is not None:
                    self._check_dialled(_fast_national(nsn, self.default_region))
                return f"+{code}{nsn}"
        number = self._checked(text)
        if self.dial_patterns is not None:
            self._check_dialled(_national(number))
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)

    def _checked(self, text: object) -> phonenumbers.PhoneNumber:
        if not isinstance(text, str) or not text.strip():
            raise InvalidNumber("must be a non-empty string")
        if any(ch in text for ch in "\r\n\x00") or len(text) > 32:
            raise InvalidNumber("contains characters that are not part of a phone number")
        if not re.fullmatch(r"[0-9+()\-. ]+", text):
            raise InvalidNumber("may contain only digits, spaces, '+', '-', '.', '(' and ')'")
        try:
            number = phonenumbers.parse(text, self.default_region)
        except NumberParseException as exc:
            # error_type is a plain int constant in phonenumbers, not an enum
            reason = _PARSE_ERRORS.get(exc.error_type, "unparseable")
            raise InvalidNumber(f"is not a phone number ({reason})") from None
        # What is_valid_number computes, without matching the number's patterns twice: a
        # number is valid when it belongs to a region and has a known type there.
        region = phonenumbers.region_code_for_number(number)
        kind = phonenumbers.number_type(number) if region else PhoneNumberType.UNKNOWN
        if kind == PhoneNumberType.UNKNOWN:
            raise InvalidNumber("is not a valid phone number")
        if self.allowed_regions and region not in self.allowed_regions:
            raise InvalidNumber(f"calls to region {region} are not allowed")
        if kind in _REFUSED_TYPES:
            raise InvalidNumber("premium and shared-cost numbers are not allowed")
        return number

    def dial_string(self, destination: Destination, template: str | None = None) -> str:
        """Render the trunk's dial string; refuse a template that yields anything odd."""
        rendered = (template or self.dial_template).format(
            e164=destination.e164, e164_digits=destination.e164.lstrip("+"),
            national=destination.national,
        )
        if not _DIAL_STRING.match(rendered):
            raise InvalidNumber(f"dial template produced an unsafe dial string {rendered!r}")
        return rendered


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


def _type_rules(metadata: PhoneMetadata) -> _TypeRules:
    """The general description and the typed ones, in phonenumbers' order, without the ones
    that can never match (no description or an empty pattern, as phonenumbers treats them)."""
    def rule(name: str, kind: PhoneNumberType) -> _TypeRule | None:
        desc = getattr(metadata, name)
        if desc is None or not desc.national_number_pattern:
            return None
        return _TypeRule(frozenset(desc.possible_length), re.compile(desc.national_number_pattern),
                         kind not in _REFUSED_TYPES)

    typed = [(name, rule(name, kind)) for name, kind in _TYPE_ORDER]
    ordered = tuple(r for name, r in typed if r is not None and not (
        name == "mobile" and metadata.same_mobile_and_fixed_line_pattern))
    return rule("general_desc", PhoneNumberType.UNKNOWN), ordered


def _dialable(national: str, rules: _TypeRules) -> bool:
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
    return str(code), metadata.national_prefix, _type_rules(metadata)


def _fast_e164(text: str, region: str, allowed: frozenset[str]) -> str | None:
    """E.164 for a valid, allowed, non-premium number of ``region`` written nationally or with
    its country code; None means "ask the full parser"."""
    parts = _fast_parts(text, region, allowed)
    return None if parts is None else f"+{parts[0]}{parts[1]}"


def _fast_parts(text: str, region: str, allowed: frozenset[str]) -> tuple[str, str] | None:
    """(country code, national significant number) for what :func:`_fast_e164` answers."""
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
    if not _dialable(national, rules):
        return None
    return code, national


def _national(number: phonenumbers.PhoneNumber) -> str:
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


def _fast_national(nsn: str, region: str) -> str:
    """What :func:`_national` gives for a number the short path read, without building a
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


def parse_caller_id(text: object) -> str:
    """A caller ID is a plain number: no names, so nothing to escape for the AMI."""
    if not isinstance(text, str) or not _CALLER_ID.fullmatch(text):
        raise InvalidNumber("must be 2-15 digits with an optional leading '+'")
    return text
