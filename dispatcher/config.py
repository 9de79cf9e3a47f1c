"""Settings: one frozen object, read from the environment once per process by each entry point.

Parsing is strict on purpose: a typo in a timeout or a port should stop the process at start-up,
not surface as a strange call failure hours later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from dispatcher.ami.endpoint import AMIEndpoint


class SettingsError(ValueError):
    """A setting is missing or malformed."""


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
    queue_name: str = "pbx-default"
    trunk_name: str = "carrier-trunk"
    trunk_lines: int = 30
    trunk_cps: int = 0
    trunks: str = ""
    capacity: str = "on"
    max_call_seconds: int = 3600
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
            env = ", ".join(f"DISPATCHER_{n.upper()}" for n in missing)
            raise SettingsError(f"missing required setting(s): {env}")
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


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``DISPATCHER_*`` variables (``DATABASE_URL``/``REDIS_URL``
    accepted as fallbacks); unknown ``DISPATCHER_*`` names are an error, to catch typos."""
    env = os.environ if environ is None else environ
    known = Settings.__dataclass_fields__
    values: dict[str, object] = {}
    for key, raw in env.items():
        if not key.startswith("DISPATCHER_"):
            continue
        name = key[len("DISPATCHER_"):].lower()
        if name not in known:
            if name in _IGNORED:
                continue
            raise SettingsError(f"unknown setting {key}")
        values[name] = raw
    for name, alias in _ALIASES.items():
        if name not in values and env.get(alias):
            values[name] = env[alias]
    parsed: dict[str, object] = {}
    for name, raw in values.items():
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
    return Settings(**parsed)  # type: ignore[arg-type]


# Variables read by other tools (the CLI, the embedded stack), not by Settings.
_IGNORED = frozenset({"home", "api_url", "api_key", "traces", "fault_kill_at",
                      "fault_kill_rate"})
