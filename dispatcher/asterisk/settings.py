"""Everything the Asterisk configuration depends on, read once from the environment.

The dispatcher's own ``DISPATCHER_*`` variables are read through :func:`dispatcher.config.
load_settings`, the same parser the API and workers use, so the AMI users, the answered
context and the line count Asterisk gets are exactly the ones the dispatcher will use. The
Asterisk-only variables (trunk, NAT, RTP, CDR) have names outside ``DISPATCHER_*`` on purpose:
``load_settings`` refuses unknown ``DISPATCHER_*`` names, and every service reads the same
``.env``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dispatcher.asterisk import values as v
from dispatcher.asterisk.cdr_database import CdrDatabase, cdr_database
from dispatcher.asterisk.values import ConfError

MODES = ("peer", "register")
OUTBOUND_CONTEXT = "dispatcher-outbound"
DEFAULT_LOCAL_NETS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
DEFAULT_DIAL_PATTERNS = "_09XXXXXXXXX,_0[1-8]XXXXXXXXX"
ALLOW_ANONYMOUS = "DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID"
_CALLER_ID = re.compile(r"^\+?[0-9]{2,15}$")  # dispatcher.domain.numbers.parse_caller_id's rule
_SECTION = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
_TEMPLATE = re.compile(r"^(?P<tech>PJSIP|Local)/\{[a-z0-9_]+\}@(?P<target>[^/@]+)$")


@dataclass(frozen=True)
class AsteriskSettings:
    mode: str
    # trunk
    endpoint: str
    carrier_host: str
    carrier_port: int
    carrier_transport: str
    carrier_match: tuple[str, ...]
    trunk_username: str
    trunk_password: str = field(repr=False)
    codecs: tuple[str, ...] = ("alaw", "ulaw")
    qualify_seconds: int = 10
    # SIP / NAT / media
    sip_port: int = 5060
    sip_bind: str = "0.0.0.0"
    external_address: str = ""
    local_nets: tuple[str, ...] = ()
    rtp_start: int = 10000
    rtp_end: int = 10199
    # AMI
    ami_port: int = 5038
    ami_bind: str = "127.0.0.1"
    ami_permit: tuple[str, ...] = ("127.0.0.1/32",)
    worker_user: str = "dispatcher"
    worker_secret: str = field(default="", repr=False)
    events_user: str = "dispatcher-events"
    events_secret: str = field(default="", repr=False)
    # dialplan
    trunk_lines: int = 30
    max_call_seconds: int = 3600
    originate_context: str = "dispatcher-answered"
    originate_exten: str = "s"
    dial_template: str = "PJSIP/{national}@carrier-trunk"
    dial_patterns: tuple[str, ...] = ()
    answer_sound: str = "hello-world"
    default_caller_id: str = ""
    # CDR
    cdr: CdrDatabase | None = None


def parse_mode(value: str | None) -> str:
    mode = (value or "").strip().lower()
    if mode not in MODES:
        shown = f" (got {value!r})" if value else ""
        raise ConfError("trunk mode must be 'peer' (the carrier knows us by IP) or 'register' "
                        f"(we register to the carrier): pass --mode or set TRUNK_MODE{shown}")
    return mode


def _dispatcher_settings(env: Mapping[str, str]):  # -> dispatcher.config.Settings
    """The dispatcher's own view of the shared variables, or a ConfError saying what is wrong."""
    from dispatcher.config import SettingsError, load_settings

    try:
        return load_settings(env)
    except SettingsError as exc:
        raise ConfError(str(exc)) from None


# Names the rendered files already use, and "anonymous", which PJSIP would treat as the
# endpoint for unidentified callers.
_RESERVED = frozenset({"general", "global", "system", "anonymous", "transport-udp",
                       "transport-tcp", "trunk-endpoint", "trunk-aor", "globals",
                       "from-carrier", "dispatcher-trunk", OUTBOUND_CONTEXT,
                       "dispatcher-answered-custom", "dispatcher-hangup"})


def _section_name(name: str, value: str) -> str:
    if not _SECTION.match(value):
        raise ConfError(f"{name} must be 1-40 letters, digits, '_' or '-', got {value!r}")
    if value.lower() in _RESERVED:
        raise ConfError(f"{name} may not be {value!r}: that name is reserved")
    return value


def _endpoint(dial_template: str, trunk_name: str) -> str:
    """The PJSIP endpoint the dispatcher's dial string reaches, checked against what we render."""
    v.refuse_structural("DISPATCHER_DIAL_TEMPLATE", dial_template)
    match = _TEMPLATE.match(dial_template)
    if not match:
        raise ConfError("DISPATCHER_DIAL_TEMPLATE must be PJSIP/{national}@<endpoint> or "
                        f"Local/{{national}}@{OUTBOUND_CONTEXT}, got {dial_template!r}")
    if match["tech"] == "PJSIP":
        return _section_name("DISPATCHER_DIAL_TEMPLATE endpoint", match["target"])
    if match["target"] != OUTBOUND_CONTEXT:
        raise ConfError(f"DISPATCHER_DIAL_TEMPLATE: a Local channel must go through the "
                        f"{OUTBOUND_CONTEXT} context, got {match['target']!r}")
    return _section_name("DISPATCHER_TRUNK_NAME", trunk_name)


def _trunk(env: Mapping[str, str], mode: str) -> dict[str, object]:
    carrier_host = v.host("CARRIER_HOST", v.required(
        env, "CARRIER_HOST", "the IP address or host name of the carrier's Asterisk"))
    out: dict[str, object] = {
        "carrier_host": carrier_host,
        "carrier_port": v.integer(env, "CARRIER_PORT", 5060, 1, 65535),
        "carrier_transport": v.choice(env, "CARRIER_TRANSPORT", "udp", ("udp", "tcp")),
        "carrier_match": v.hosts("CARRIER_MATCH", v.text(env, "CARRIER_MATCH", carrier_host)),
        "codecs": v.codecs("TRUNK_CODECS", v.text(env, "TRUNK_CODECS", "alaw,ulaw")),
        "qualify_seconds": v.integer(env, "TRUNK_QUALIFY_SECONDS", 10, 0, 3600),
        "trunk_username": "",
        "trunk_password": "",
    }
    if mode == "register":
        out["trunk_username"] = v.sip_user("TRUNK_USERNAME", v.required(
            env, "TRUNK_USERNAME", "the user name the carrier gave us for registration"))
        out["trunk_password"] = v.secret(
            env, "TRUNK_PASSWORD", "the password the carrier gave us for registration",
            min_length=8)
    return out


def _media(env: Mapping[str, str], mode: str, lines: int) -> dict[str, object]:
    external = v.text(env, "SIP_EXTERNAL_ADDRESS")
    if mode == "peer" and not external:
        raise ConfError("missing required setting SIP_EXTERNAL_ADDRESS: in peer mode the "
                        "carrier sends to our public IP, and SDP must carry it (Docker NAT)")
    rtp_start = v.integer(env, "RTP_START", 10000, 1024, 65534)
    rtp_end = v.integer(env, "RTP_END", 10199, 1025, 65535)
    if rtp_start % 2 or rtp_end <= rtp_start:
        raise ConfError("RTP_START must be even and below RTP_END")
    if rtp_end - rtp_start + 1 < 2 * lines:
        raise ConfError(f"RTP_START-RTP_END has {rtp_end - rtp_start + 1} ports; {lines} lines "
                        f"need at least {2 * lines} (RTP + RTCP per call)")
    return {
        "sip_port": v.integer(env, "SIP_PORT", 5060, 1, 65535),
        "sip_bind": v.ip_address("SIP_BIND", v.text(env, "SIP_BIND", "0.0.0.0")),
        "external_address": v.ip_address("SIP_EXTERNAL_ADDRESS", external) if external else "",
        "local_nets": v.networks("SIP_LOCAL_NETS",
                                 v.text(env, "SIP_LOCAL_NETS", DEFAULT_LOCAL_NETS)),
        "rtp_start": rtp_start,
        "rtp_end": rtp_end,
    }


def _ami(env: Mapping[str, str], s) -> dict[str, object]:  # s: dispatcher.config.Settings
    if not s.ami_events_username:
        raise ConfError("missing required setting DISPATCHER_AMI_EVENTS_USERNAME: the event "
                        "consumer has its own read-only AMI user (the workers' user reads "
                        "no events)")
    worker = v.ami_user("DISPATCHER_AMI_USERNAME", s.ami_username)
    events = v.ami_user("DISPATCHER_AMI_EVENTS_USERNAME", s.ami_events_username)
    if worker == events:
        raise ConfError("DISPATCHER_AMI_USERNAME and DISPATCHER_AMI_EVENTS_USERNAME must differ: "
                        "each has only the rights its process needs")
    return {
        "ami_port": s.ami_port,
        "ami_bind": v.ip_address("AMI_BIND", v.text(env, "AMI_BIND", "127.0.0.1")),
        "ami_permit": v.networks("AMI_PERMIT", v.text(env, "AMI_PERMIT", "127.0.0.1/32")),
        "worker_user": worker,
        "worker_secret": v.secret(env, "DISPATCHER_AMI_SECRET",
                                  "the workers' AMI password (Originate)"),
        "events_user": events,
        "events_secret": v.secret(env, "DISPATCHER_AMI_EVENTS_SECRET",
                                  "the event consumer's AMI password"),
    }


def _dial_patterns(env: Mapping[str, str]) -> tuple[str, ...]:
    name = "ASTERISK_DIAL_PATTERNS"
    return v.dial_patterns(name, v.pattern_text(env, name, DEFAULT_DIAL_PATTERNS))


def _caller_id(default: str, allow_anonymous: bool) -> str:
    """The caller number for calls that carry none, or "" only when anonymous calls are allowed
    explicitly (DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID, parsed by dispatcher.config like every
    DISPATCHER_* flag): a carrier may drop or flag an INVITE from "Anonymous", and the callee
    sees no number to call back."""
    value = (default or "").strip()
    if not value:
        if allow_anonymous:
            return ""
        raise ConfError("missing required setting DISPATCHER_DEFAULT_CALLER_ID: calls without a "
                        "caller number would go out anonymous; set it (e.g. +982112345678), or "
                        f"set {ALLOW_ANONYMOUS}=yes to allow anonymous calls")
    v.refuse_structural("DISPATCHER_DEFAULT_CALLER_ID", value)
    if not _CALLER_ID.fullmatch(value):
        raise ConfError("DISPATCHER_DEFAULT_CALLER_ID must be 2-15 digits with an optional "
                        f"leading '+', got {value!r}")
    return value


def _dialplan(env: Mapping[str, str], s) -> dict[str, object]:  # s: dispatcher.config.Settings
    if s.originate_priority != 1 and not s.originate_application:
        raise ConfError("DISPATCHER_ORIGINATE_PRIORITY must be 1: the rendered answered "
                        "context starts there")
    if not 1 <= s.trunk_lines <= 1000:
        raise ConfError("DISPATCHER_TRUNK_LINES must be between 1 and 1000")
    if not 0 < s.max_call_seconds <= 86400:
        raise ConfError("DISPATCHER_MAX_CALL_SECONDS must be between 1 and 86400")
    exten = s.originate_exten
    if not re.fullmatch(r"[A-Za-z0-9_+*#\-]{1,40}", exten) or exten.startswith("_"):
        raise ConfError(f"DISPATCHER_ORIGINATE_EXTEN must be a plain extension, got {exten!r}")
    return {
        "trunk_lines": s.trunk_lines,
        "max_call_seconds": s.max_call_seconds,
        "originate_context": _section_name("DISPATCHER_ORIGINATE_CONTEXT", s.originate_context),
        "originate_exten": exten,
        "dial_template": s.dial_template,
        "dial_patterns": _dial_patterns(env),
        "answer_sound": v.sound("ASTERISK_ANSWER_SOUND",
                                v.text(env, "ASTERISK_ANSWER_SOUND", "hello-world")),
        "default_caller_id": _caller_id(s.default_caller_id, s.allow_anonymous_caller_id),
    }


def load(env: Mapping[str, str], mode: str | None = None) -> AsteriskSettings:
    """Validate everything :func:`~dispatcher.asterisk.render.render` needs, or raise ConfError
    naming the first variable to fix. ``mode`` (the CLI's ``--mode``) overrides ``TRUNK_MODE``."""
    chosen = parse_mode(mode or env.get("TRUNK_MODE"))
    s = _dispatcher_settings(env)
    return AsteriskSettings(
        mode=chosen,
        endpoint=_endpoint(s.dial_template, s.trunk_name),
        **_trunk(env, chosen),  # type: ignore[arg-type]
        **_media(env, chosen, s.trunk_lines),  # type: ignore[arg-type]
        **_ami(env, s),  # type: ignore[arg-type]
        **_dialplan(env, s),  # type: ignore[arg-type]
        cdr=cdr_database(env, s.database_url),
    )


def load_remote(env: Mapping[str, str], mode: str | None = None) -> AsteriskSettings:
    """Only what the carrier's side must match: no AMI or CDR secrets are needed for that."""
    chosen = parse_mode(mode or env.get("TRUNK_MODE"))
    s = _dispatcher_settings(env)
    external = v.text(env, "SIP_EXTERNAL_ADDRESS")
    if chosen == "peer" and not external:
        raise ConfError("missing required setting SIP_EXTERNAL_ADDRESS: the carrier sends to "
                        "this public IP in peer mode")
    return AsteriskSettings(
        mode=chosen,
        endpoint=_endpoint(s.dial_template, s.trunk_name),
        **_trunk(env, chosen),  # type: ignore[arg-type]
        sip_port=v.integer(env, "SIP_PORT", 5060, 1, 65535),
        external_address=v.ip_address("SIP_EXTERNAL_ADDRESS", external) if external else "",
        rtp_start=v.integer(env, "RTP_START", 10000, 1024, 65534),
        rtp_end=v.integer(env, "RTP_END", 10199, 1025, 65535),
        trunk_lines=s.trunk_lines,
        dial_patterns=_dial_patterns(env),
    )
