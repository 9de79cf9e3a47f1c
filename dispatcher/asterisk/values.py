"""Validators for every value that ends up inside an Asterisk configuration file.

Asterisk's config parser has no quoting: a newline starts a new option, ``;`` starts a comment
and ``[`` a new section, so one unchecked value can add a section (an anonymous endpoint, an AMI
user with ``write=all``) or cut an option short. Each value is therefore checked against the
narrowest pattern its option allows, and anything else is refused with the variable's name, so
the operator knows which line of ``.env`` to fix. Nothing here ever escapes or repairs a value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping


class ConfError(ValueError):
    """A setting needed to render the Asterisk configuration is missing or unsafe."""


# Characters that change the structure of an Asterisk config file, plus controls.
_STRUCTURAL = re.compile(r"[\x00-\x1f\x7f;\[\]]")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_SIP_USER = re.compile(r"^[A-Za-z0-9._+\-]{1,64}$")
_AMI_USER = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
_CODEC = re.compile(r"^[a-z0-9_]{2,16}$")
_SOUND = re.compile(r"^[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+){0,3}$")
# Strict dialplan patterns only: digits, X/Z/N and character classes; no "." or "!" wildcards,
# which would let any number through the toll-fraud guard.
_DIAL_PATTERN = re.compile(r"^_(?:[0-9XZN]|\[[0-9\-]{1,20}\]){4,20}$")
_SECRET_CHARS = re.compile(r"^[\x21-\x7e]+$")
_SECRET_FORBIDDEN = re.compile(r"[;\[\]\"'\\`$]")


def refuse_structural(name: str, value: str) -> str:
    """The last line of defence: no value may contain a newline, ``;``, ``[`` or ``]``."""
    if _STRUCTURAL.search(value):
        raise ConfError(f"{name} contains a newline, control character, ';', '[' or ']'; "
                        "these would change the structure of the Asterisk configuration")
    return value


def text(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The variable's value, stripped; structural characters refused before anything else."""
    raw = env.get(name)
    value = default if raw is None or raw.strip() == "" else raw.strip()
    return refuse_structural(name, value)


def pattern_text(env: Mapping[str, str], name: str, default: str) -> str:
    """Like :func:`text`, but ``[``/``]`` are kept: dialplan patterns use character classes,
    and :func:`dial_patterns` then admits only digit classes in the middle of a line."""
    raw = env.get(name)
    value = default if raw is None or raw.strip() == "" else raw.strip()
    if re.search(r"[\x00-\x1f\x7f;]", value):
        raise ConfError(f"{name} contains a newline, control character or ';'")
    return value


def required(env: Mapping[str, str], name: str, why: str) -> str:
    """A value without a safe default: stop with the variable's name and what it is for."""
    value = text(env, name)
    if not value:
        raise ConfError(f"missing required setting {name}: {why}")
    return value


def secret(env: Mapping[str, str], name: str, why: str, min_length: int = 16) -> str:
    """A password: required, long enough, and free of characters Asterisk treats specially."""
    value = required(env, name, why)
    if not _SECRET_CHARS.match(value) or _SECRET_FORBIDDEN.search(value):
        raise ConfError(f"{name} must be printable ASCII without spaces, quotes, backslashes, "
                        "'$', ';', '[' or ']' (generate one with `openssl rand -hex 24`)")
    if len(value) < min_length:
        raise ConfError(f"{name} is too short ({len(value)} characters; at least {min_length})")
    return value


def integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = text(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfError(f"{name} must be between {low} and {high}, got {value}")
    return value


def choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = text(env, name, default).lower()
    if value not in allowed:
        raise ConfError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = text(env, name, "yes" if default else "no").lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise ConfError(f"{name} must be yes or no, got {value!r}")


def host(name: str, value: str) -> str:
    """An IPv4/IPv6 address or a DNS name (a SIP URI host or an identify ``match``)."""
    refuse_structural(name, value)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise ConfError(f"{name} must be an IP address or a host name, got {value!r}")
    return value


def ip_address(name: str, value: str) -> str:
    refuse_structural(name, value)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ConfError(f"{name} must be an IP address, got {value!r}") from None


def networks(name: str, value: str) -> tuple[str, ...]:
    """A comma-separated list of networks (``10.0.0.0/8``) or single addresses."""
    refuse_structural(name, value)
    items = [part.strip() for part in value.split(",") if part.strip()]
    if not items:
        raise ConfError(f"{name} must list at least one network")
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfError(f"{name}: {item!r} is not an IP network such as 10.0.0.0/8") from None
    return tuple(out)


def hosts(name: str, value: str) -> tuple[str, ...]:
    """Identify ``match`` entries: addresses, networks or host names."""
    refuse_structural(name, value)
    out = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if "/" in item:
            out.extend(networks(name, item))
        else:
            out.append(host(name, item))
    if not out:
        raise ConfError(f"{name} must list at least one address")
    return tuple(out)


def sip_user(name: str, value: str) -> str:
    if not _SIP_USER.match(value):
        raise ConfError(f"{name} may contain only letters, digits, '.', '_', '+' and '-' "
                        f"(1-64), got {value!r}")
    return value


def ami_user(name: str, value: str) -> str:
    if not _AMI_USER.match(value) or value.lower() == "general":
        raise ConfError(f"{name} may contain only letters, digits, '_' and '-' (1-32) and may "
                        f"not be 'general', got {value!r}")
    return value


def codecs(name: str, value: str) -> tuple[str, ...]:
    items = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    if not items or not all(_CODEC.match(item) for item in items):
        raise ConfError(f"{name} must be a comma-separated list of codec names such as "
                        f"alaw,ulaw, got {value!r}")
    if len(set(items)) != len(items):
        raise ConfError(f"{name} lists a codec twice")
    return items


def sound(name: str, value: str) -> str:
    """A sound file name as Playback() takes it: no extension, no ``..``, at most 4 levels."""
    if not _SOUND.match(value):
        raise ConfError(f"{name} must be a sound name such as hello-world or custom/welcome "
                        f"(letters, digits, '_', '-', '/'), got {value!r}")
    return value


def dial_patterns(name: str, value: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in value.split(",") if part.strip())
    if not items:
        raise ConfError(f"{name} must list at least one dialplan pattern")
    for item in items:
        if not _DIAL_PATTERN.match(item):
            raise ConfError(f"{name}: {item!r} is not a strict dialplan pattern; use '_' then "
                            "4-20 of digits, X, Z, N or [0-9] classes (no '.' or '!' wildcards)")
    if len(set(items)) != len(items):
        raise ConfError(f"{name} lists a pattern twice")
    return items


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression an Asterisk extension pattern matches (for checks and tests)."""
    if not pattern.startswith("_"):
        return re.compile(re.escape(pattern) + r"\Z")
    out, i = [], 1
    classes = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}
    while i < len(pattern):
        ch = pattern[i]
        if ch == "[":
            end = pattern.index("]", i)
            out.append("[" + pattern[i + 1:end] + "]")
            i = end + 1
            continue
        out.append(classes.get(ch.upper(), re.escape(ch)))
        i += 1
    return re.compile("".join(out) + r"\Z")
