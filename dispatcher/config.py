"""Settings: one frozen object, read from the environment once per process by each entry point.

Parsing is strict on purpose: a typo in a timeout or a port should stop the process at start-up,
not surface as a strange call failure hours later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dispatcher.domain.dial_patterns import (
    DEFAULT_DIAL_PATTERNS,
    DialPatternError,
    DialPatterns,
    compile_patterns,
)

_CALLER_ID = re.compile(r"\+?[0-9]{2,15}")  # dispatcher.domain.numbers.parse_caller_id's rule


class SettingsError(ValueError):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class AMIEndpoint:
    """Connection settings for one AMI user.

    Every network wait in the AMI layer is bounded by one of these timeouts (pyst2 has none of
    its own, ``docs/ami-notes.md#d1``). ``secret`` is kept out of ``repr`` so it never lands in
    logs or task tracebacks.
    """

    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    connect_timeout: float = 3.0  # TCP connect + banner + login reply
    action_timeout: float = 5.0  # one action's reply
    ping_interval: float = 20.0  # idle time after which a session is re-checked before use

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ValueError(f"invalid AMI port {self.port!r}")
        for name in ("connect_timeout", "action_timeout", "ping_interval"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"AMIEndpoint.{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str = ""
    redis_sentinel_master: str = "mymaster"
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "dispatcher"
    ami_secret: str = field(default="", repr=False)
    ami_events_username: str = ""
    ami_events_secret: str = field(default="", repr=False)
    ami_action_timeout: float = 5.0
    default_region: str = "IR"
    allowed_regions: str = "IR"
    dial_template: str = "PJSIP/{national}@carrier-trunk"
    originate_context: str = "dispatcher-answered"
    originate_exten: str = "s"
    originate_priority: int = 1
    originate_application: str = ""
    originate_data: str = ""
    default_caller_id: str = ""
    # Calls without a caller ID go out anonymous; refused at start-up unless this says so
    # (see require_caller_id).
    allow_anonymous_caller_id: bool = False
    # Read from ASTERISK_DIAL_PATTERNS, which the rendered dialplan uses too: the API refuses
    # what the dialplan would not dial (see dispatcher.domain.dial_patterns).
    dial_patterns: str = DEFAULT_DIAL_PATTERNS
    queue_name: str = "pbx-default"
    trunk_name: str = "carrier-trunk"
    trunk_lines: int = 30
    trunk_cps: int = 0
    trunks: str = ""
    capacity: str = "on"
    max_call_seconds: int = 3600
    # History kept: each call's AMI event log, and the calls (0: forever). See usecases/retention.
    event_retention_days: int = 30
    call_retention_days: int = 0
    admit_lease_seconds: int = 60
    publish_retry_after: float = 30.0
    reconcile_grace: float = 15.0
    reconcile_interval: float = 30.0
    # Seconds a trunk's PBX may go unwatched (no event consumer connected to it) before its
    # admission pauses: nothing is dialled that no one would see end. 0: never pause.
    unwatched_pause: float = 5.0
    max_body_bytes: int = 65536
    max_upload_bytes: int = 64 << 20
    number_cap: int = 0  # calls to one number per number_cap_window, across everything; 0: off
    number_cap_window: int = 86400
    campaign_fill_interval: float = 1.0
    campaign_upload_grace: float = 30.0
    callback_allow_private: bool = False
    secret_key: str = field(default="", repr=False)
    flower_url: str = "http://127.0.0.1:5555"
    consumer_metrics_port: int = 0
    log_level: str = "INFO"
    log_format: str = "json"
    log_mask_numbers: bool = True

    @property
    def worker_ami(self) -> AMIEndpoint:
        return AMIEndpoint(
            self.ami_host, self.ami_port, self.ami_username, self.ami_secret,
            action_timeout=self.ami_action_timeout,
        )

    @property
    def events_ami(self) -> AMIEndpoint:
        return AMIEndpoint(
            self.ami_host, self.ami_port,
            self.ami_events_username or self.ami_username,
            self.ami_events_secret or self.ami_secret,
            action_timeout=self.ami_action_timeout,
        )

    def require(self, *names: str) -> Settings:
        """Fail fast in the process that needs a value, not in every process."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            env = ", ".join(env_name(n) for n in missing)
            raise SettingsError(f"missing required setting(s): {env}")
        return self

    def require_caller_id(self) -> Settings:
        """Refuse to start a process that would send calls out anonymous by accident: a call
        without ``from`` takes the default caller ID, and with none set the carrier sees no
        number, which many carriers reject or flag. Anonymous calls must be chosen
        explicitly."""
        caller_id = self.default_caller_id.strip()
        if not caller_id and not self.allow_anonymous_caller_id:
            raise SettingsError(
                "DISPATCHER_DEFAULT_CALLER_ID is not set, so calls without 'from' would go out "
                "anonymous: set it, or set DISPATCHER_ALLOW_ANONYMOUS_CALLER_ID=true to allow that")
        if caller_id and not _CALLER_ID.fullmatch(caller_id):
            # It goes into every such call's CallerID header unchecked by the API.
            raise SettingsError("DISPATCHER_DEFAULT_CALLER_ID must be 2-15 digits with an "
                                f"optional leading '+', got {caller_id!r}")
        return self


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"DISPATCHER_{name.upper()} must be an integer, got {raw!r}") from None


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"DISPATCHER_{name.upper()} must be true or false, got {raw!r}")


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"DISPATCHER_{name.upper()} must be a number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"DISPATCHER_{name.upper()} must not be negative")
    return value


_ALIASES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}
# Settings shared with the Asterisk configuration, read only under Asterisk's name: a second
# DISPATCHER_* spelling could let the API and the dialplan disagree.
_FOREIGN = {"dial_patterns": "ASTERISK_DIAL_PATTERNS"}


def env_name(name: str) -> str:
    """The environment variable a setting is read from, for messages."""
    return _FOREIGN.get(name, f"DISPATCHER_{name.upper()}")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``DISPATCHER_*`` variables (``DATABASE_URL``/``REDIS_URL``
    accepted as fallbacks) and the shared ``ASTERISK_DIAL_PATTERNS``; unknown ``DISPATCHER_*``
    names are an error, to catch typos."""
    known = Settings.__dataclass_fields__
    parsed: dict[str, object] = {}
    for name, raw in _raw_values(os.environ if environ is None else environ).items():
        kind = known[name].type
        text = str(raw)
        if kind == "bool":
            parsed[name] = _bool(name, text)
        elif kind == "int":
            parsed[name] = _int(name, text)
        elif kind == "float":
            parsed[name] = _float(name, text)
        else:
            parsed[name] = text
    settings = Settings(**parsed)  # type: ignore[arg-type]
    dial_pattern_set(settings)  # a malformed pattern stops the process here, not at a call
    return settings


def _raw_values(env: Mapping[str, str]) -> dict[str, str]:
    """Each setting's text by field name, from whichever variable it is read from."""
    known = Settings.__dataclass_fields__
    values: dict[str, str] = {}
    for key, raw in env.items():
        if not key.startswith("DISPATCHER_"):
            continue
        name = key[len("DISPATCHER_"):].lower()
        if name in _FOREIGN:
            raise SettingsError(f"unknown setting {key}: set {_FOREIGN[name]}, which the "
                                "Asterisk dialplan reads too")
        if name not in known:
            if name in _IGNORED:
                continue
            raise SettingsError(f"unknown setting {key}")
        values[name] = raw
    for name, alias in _ALIASES.items():
        if name not in values and env.get(alias):
            values[name] = env[alias]
    port = (env.get("FLOWER_PORT") or "").strip()
    if "flower_url" not in values and port.isdigit():
        # Flower's own setting (the Procfile passes it on): the /ops link follows it.
        values["flower_url"] = f"http://127.0.0.1:{port}"
    for name, foreign in _FOREIGN.items():
        # Blank means the default, as in the Asterisk configuration's reading of it.
        if (env.get(foreign) or "").strip():
            values[name] = env[foreign].strip()
    return values


def dial_pattern_set(settings: Settings) -> DialPatterns:
    """The compiled ``ASTERISK_DIAL_PATTERNS`` (cached: every caller shares one regex), or a
    :class:`SettingsError` naming the variable."""
    try:
        return compile_patterns(settings.dial_patterns)
    except DialPatternError as exc:
        raise SettingsError(f"ASTERISK_DIAL_PATTERNS: {exc}") from None


# Variables read by other tools (the CLI, the embedded stack), not by Settings.
_IGNORED = frozenset({"home", "api_url", "api_key", "traces", "fault_kill_at",
                      "fault_kill_rate", "test_asterisk"})
