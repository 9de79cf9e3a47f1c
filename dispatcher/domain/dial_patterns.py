"""Asterisk extension patterns (``_09XXXXXXXXX``) as one regular expression.

The rendered dialplan dials only numbers matching ``ASTERISK_DIAL_PATTERNS``. A number the API
accepted but no pattern matches is not refused by anyone until Asterisk has created both halves
of a Local channel, and then it ends as an opaque failed call. Checking the same text with the
same rules at the API turns that into a 422 that names the setting.

Matching follows Asterisk (main/pbx.c): after a leading ``_``, ``X`` is 0-9, ``Z`` 1-9, ``N``
2-9 (in either case), ``[...]`` a set with ranges, ``.`` one or more of anything and ``!`` zero
or more; ``-`` is decoration and ignored. Asterisk ignores whatever follows ``.`` or ``!``, so
such a pattern is refused here rather than silently read differently from how it looks. Without
``_`` an entry is a literal extension. Every pattern is compiled into one alternation, once per
process (:func:`compile_patterns` is cached): bulk uploads test a million rows against it.

Pure: no settings, no I/O. Stricter checks on what may be *rendered* (no wildcards at all) stay
with the Asterisk configuration code; this module only has to agree with Asterisk's matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

SETTING = "ASTERISK_DIAL_PATTERNS"
DEFAULT_DIAL_PATTERNS = "_09XXXXXXXXX,_0[1-8]XXXXXXXXX"
MAX_PATTERNS = 64
MAX_PATTERN_LENGTH = 80
_WILDCARDS = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}
_LITERALS = frozenset("0123456789*#+")  # what a dialled extension can hold
_SUMMARY_LENGTH = 100  # error messages quote the list; a long one is cut, not dropped


class DialPatternError(ValueError):
    """A pattern list Asterisk would not read the way it looks."""


@dataclass(frozen=True)
class DialPatterns:
    """The patterns as written (for messages) and the one regex that stands for all of them."""

    patterns: tuple[str, ...]
    regex: re.Pattern[str]

    def admits(self, extension: str) -> bool:
        return self.regex.fullmatch(extension) is not None

    @property
    def summary(self) -> str:
        """``ASTERISK_DIAL_PATTERNS (_09XXXXXXXXX, ...)``: what a refusal shows an operator."""
        text = ", ".join(self.patterns)
        if len(text) > _SUMMARY_LENGTH:
            text = text[:_SUMMARY_LENGTH].rsplit(",", 1)[0] + ", ..."
        return f"{SETTING} ({text})"


def _set(pattern: str, body: str) -> str:
    """A ``[...]`` set as a regex class; empty, reversed or non-digit sets are refused, since
    Asterisk would accept them silently and match nothing or something unexpected."""
    if not body:
        raise DialPatternError(f"{pattern!r} has an empty '[]'")
    chars: list[str] = []
    i = 0
    while i < len(body):
        low = body[i]
        if low == "-":
            raise DialPatternError(f"{pattern!r}: a range in '[...]' needs both ends")
        if low not in _LITERALS:
            raise DialPatternError(f"{pattern!r}: {low!r} inside '[...]' is not a digit, "
                                   "'*', '#' or '+'")
        if i + 2 < len(body) and body[i + 1] == "-":
            high = body[i + 2]
            if not (low.isdigit() and high.isdigit() and low <= high):
                raise DialPatternError(f"{pattern!r}: '{low}-{high}' is not a digit range")
            chars.append(f"{low}-{high}")
            i += 3
            continue
        if body[i + 1:i + 2] == "-":
            raise DialPatternError(f"{pattern!r}: a range in '[...]' needs both ends")
        chars.append(re.escape(low))
        i += 1
    return "[" + "".join(chars) + "]"


def pattern_regex(pattern: str) -> str:
    """The regex source (no anchors) one Asterisk pattern or literal extension matches."""
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise DialPatternError(f"each pattern must be 1-{MAX_PATTERN_LENGTH} characters, "
                               f"got {pattern[:MAX_PATTERN_LENGTH + 1]!r}")
    literal = not pattern.startswith("_")
    body = pattern if literal else pattern[1:]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "-":  # Asterisk's "eye candy": ignored in patterns and extensions alike
            i += 1
            continue
        if ch in _LITERALS:
            out.append(re.escape(ch))
            i += 1
            continue
        if literal:
            raise DialPatternError(f"{pattern!r}: {ch!r} is not allowed in a literal extension "
                                   "(patterns start with '_')")
        upper = ch.upper()
        if upper in _WILDCARDS:
            out.append(_WILDCARDS[upper])
            i += 1
        elif ch == "[":
            end = body.find("]", i)
            if end < 0:
                raise DialPatternError(f"{pattern!r} has a '[' without its ']'")
            out.append(_set(pattern, body[i + 1:end]))
            i = end + 1
        elif ch in ".!":
            if body[i + 1:].strip("-"):
                raise DialPatternError(f"{pattern!r}: {ch!r} must end the pattern (Asterisk "
                                       "ignores what follows it)")
            out.append(".+" if ch == "." else ".*")
            i = len(body)
        else:
            raise DialPatternError(f"{pattern!r}: {ch!r} is not a digit, X, Z, N, '[...]', "
                                   "'.', '!' or '-'")
    if not out:
        raise DialPatternError(f"{pattern!r} matches no extension")
    return "".join(out)


@lru_cache(maxsize=8)
def compile_patterns(text: str) -> DialPatterns:
    """Compile a comma-separated pattern list (the ``ASTERISK_DIAL_PATTERNS`` text), raising
    :class:`DialPatternError` with the offending pattern; cached, so every caller shares one
    compiled regex per distinct setting."""
    if re.search(r"[\x00-\x1f\x7f]", text):
        raise DialPatternError("the pattern list contains a newline or control character")
    patterns = tuple(part.strip() for part in text.split(",") if part.strip())
    if not patterns:
        raise DialPatternError("the list must hold at least one pattern")
    if len(patterns) > MAX_PATTERNS:
        raise DialPatternError(f"at most {MAX_PATTERNS} patterns")
    if len(set(patterns)) != len(patterns):
        twice = next(p for p in patterns if patterns.count(p) > 1)
        raise DialPatternError(f"{twice!r} is listed twice")
    alternation = "|".join(f"(?:{pattern_regex(p)})" for p in patterns)
    return DialPatterns(patterns, re.compile(alternation, re.DOTALL))
