"""Number rules: what a client may ask us to dial, and how it becomes a trunk dial string.

Everything here runs before a call row exists, so a bad number is refused with 422 and changes
nothing. The dial string is built only from a validated number and a template from settings,
never from client text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from dispatcher.config import Settings, dial_pattern_set
from dispatcher.domain.dial_patterns import DialPatterns
from dispatcher.domain.number_short_path import (
    REFUSED_TYPES,
    fast_national,
    fast_parts,
    national_form,
)

_DIAL_STRING = re.compile(r"^[A-Za-z0-9]+/[A-Za-z0-9+#*@._\-]{1,120}$")
_CALLER_ID = re.compile(r"^\+?[0-9]{2,15}$")
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
        national = national_form(number)
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
            fast = fast_parts(text, self.default_region, self.allowed_regions)
            if fast is not None:
                code, nsn = fast
                if self.dial_patterns is not None:
                    self._check_dialled(fast_national(nsn, self.default_region))
                return f"+{code}{nsn}"
        number = self._checked(text)
        if self.dial_patterns is not None:
            self._check_dialled(national_form(number))
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
        if kind in REFUSED_TYPES:
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


def parse_caller_id(text: object) -> str:
    """A caller ID is a plain number: no names, so nothing to escape for the AMI."""
    if not isinstance(text, str) or not _CALLER_ID.fullmatch(text):
        raise InvalidNumber("must be 2-15 digits with an optional leading '+'")
    return text
