"""Trunks as configuration, and routing a number to one.

A trunk is a set of physical lines behind one Asterisk: its AMI endpoint, the dial-string
template that reaches the carrier, how many calls it may carry at once, an optional
calls-per-second limit, and the number prefixes it serves. Each AMI endpoint has its own Celery
queue, so adding capacity means adding worker processes, not code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from dispatcher.config import AMIEndpoint, Settings, SettingsError


@dataclass(frozen=True)
class Trunk:
    name: str
    ami: AMIEndpoint
    dial_template: str
    lines: int
    queue: str
    cps: int = 0
    prefixes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def endpoint(self) -> str:
        """The PJSIP endpoint whose channels (``PJSIP/carrier-trunk-0000001a``) occupy this
        trunk's lines: the one a ``PJSIP/...@endpoint`` template dials; with a ``Local/``
        template the dialplan dials it, and it is named like the trunk."""
        if not self.dial_template.startswith("PJSIP/"):
            return self.name
        _, at, name = self.dial_template.rpartition("@")
        return name if at else self.name

    def serves(self, e164: str) -> int:
        """Length of the longest prefix of ours that ``e164`` starts with (0: catch-all)."""
        if not self.prefixes:
            return 0
        return max((len(p) for p in self.prefixes if e164.startswith(p)), default=-1)


@dataclass(frozen=True)
class TrunkTable:
    trunks: tuple[Trunk, ...]

    def __post_init__(self) -> None:
        if not self.trunks:
            raise SettingsError("at least one trunk is required")
        names = [t.name for t in self.trunks]
        if len(set(names)) != len(names):
            raise SettingsError("trunk names must be unique")

    @property
    def default(self) -> Trunk:
        return self.trunks[0]

    def get(self, name: str) -> Trunk:
        for trunk in self.trunks:
            if trunk.name == name:
                return trunk
        raise KeyError(name)

    def route(self, e164: str) -> Trunk | None:
        """The trunk with the longest matching prefix; a trunk without prefixes takes the rest.
        ``None`` when no trunk serves the number."""
        best: Trunk | None = None
        best_len = -1
        for trunk in self.trunks:
            length = trunk.serves(e164)
            if length > best_len:
                best, best_len = trunk, length
        return best if best_len >= 0 else None

    def by_queue(self) -> dict[str, list[Trunk]]:
        queues: dict[str, list[Trunk]] = {}
        for trunk in self.trunks:
            queues.setdefault(trunk.queue, []).append(trunk)
        return queues


def _positive(name: str, value: object, *, zero_ok: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero_ok else 1):
        raise SettingsError(f"trunk {name}: must be a {'non-negative' if zero_ok else 'positive'}"
                            " integer")
    return value


def load_trunks(settings: Settings) -> TrunkTable:
    """The default trunk from the flat settings, or several from ``DISPATCHER_TRUNKS`` (a JSON
    list; unset fields fall back to the flat settings, secrets included)."""
    base = Trunk(
        name=settings.trunk_name, ami=settings.worker_ami, dial_template=settings.dial_template,
        lines=_positive("lines", settings.trunk_lines), queue=settings.queue_name,
        cps=_positive("cps", settings.trunk_cps, zero_ok=True),
    )
    if not settings.trunks.strip():
        return TrunkTable((base,))
    try:
        raw = json.loads(settings.trunks)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"DISPATCHER_TRUNKS is not valid JSON: {exc}") from None
    if not isinstance(raw, list):
        raise SettingsError("DISPATCHER_TRUNKS must be a JSON list of objects")
    trunks = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise SettingsError("each trunk needs at least a name")
        unknown = set(item) - _TRUNK_FIELDS
        if unknown:
            raise SettingsError(f"trunk {item['name']}: unknown field(s) {sorted(unknown)}")
        ami = AMIEndpoint(
            item.get("ami_host", base.ami.host), int(item.get("ami_port", base.ami.port)),
            item.get("ami_username", base.ami.username), item.get("ami_secret", base.ami.secret),
            action_timeout=base.ami.action_timeout,
        )
        prefixes = item.get("prefixes", [])
        if not isinstance(prefixes, list) or not all(
                isinstance(p, str) and p.startswith("+") for p in prefixes):
            raise SettingsError(f"trunk {item['name']}: prefixes are E.164 prefixes like '+98912'")
        trunks.append(Trunk(
            name=item["name"], ami=ami, dial_template=item.get("dial_template",
                                                                base.dial_template),
            lines=_positive("lines", item.get("lines", base.lines)),
            queue=item.get("queue", f"pbx-{ami.host}-{ami.port}"),
            cps=_positive("cps", item.get("cps", 0), zero_ok=True), prefixes=tuple(prefixes),
        ))
    return TrunkTable(tuple(trunks))


_TRUNK_FIELDS = frozenset({"name", "lines", "cps", "prefixes", "dial_template", "queue",
                           "ami_host", "ami_port", "ami_username", "ami_secret"})
