"""What the carrier's (external) Asterisk must be configured with to match our side.

The carrier's server is not ours, and many still run Asterisk 20 or older with chan_sip, so the
same trunk is printed in PJSIP syntax and in the old ``sip.conf`` syntax the user's note uses.
It comes from the same settings and validation as our own render, so the two sides can't
drift: the address, port, transport, codecs, credentials and number allow-list agree by
construction.
"""

from __future__ import annotations

import os

from dispatcher.asterisk.render import fill, templates_dir
from dispatcher.asterisk.settings import AsteriskSettings

SYNTAXES = ("pjsip", "chan_sip", "both")


# The carrier counts our calls in a group of its own and refuses (cause 34, congestion) the one
# that would exceed the trunk's lines, as our dispatcher-trunk context does on our side: a
# comment asking for "at most N calls" caps nothing, and a carrier that lets a burst through
# takes lines its other customers pay for.
REMOTE_GROUP = "lines@call-dispatcher"


def _remote_dial_lines(s: AsteriskSettings) -> str:
    group, _, category = REMOTE_GROUP.partition("@")
    lines = []
    for pattern in s.dial_patterns:
        lines.append(f"exten => {pattern},1,Set(GROUP({category})={group})")
        lines.append(f" same => n,GotoIf($[${{GROUP_COUNT({REMOTE_GROUP})}} > "
                     f"{s.trunk_lines}]?full)")
        lines.append(" same => n,Dial(DAHDI/g0/${EXTEN},60)")
        lines.append(" same => n,Hangup(${HANGUPCAUSE})")
        lines.append(" same => n(full),Hangup(34)")
    return "\n".join(lines)


def remote_values(s: AsteriskSettings) -> dict[str, str]:
    return {
        "our_address": s.external_address or "<the dispatcher's public IP>",
        "our_port": str(s.sip_port),
        "our_transport": s.carrier_transport,
        "carrier_host": s.carrier_host,
        "carrier_port": str(s.carrier_port),
        "rtp_start": str(s.rtp_start),
        "rtp_end": str(s.rtp_end),
        "codecs": ",".join(s.codecs),
        "sip_allow_lines": "\n".join(f"allow={codec}" for codec in s.codecs),
        "trunk_username": s.trunk_username,
        "trunk_password": s.trunk_password,
        "trunk_lines": str(s.trunk_lines),
        "remote_dial_lines": _remote_dial_lines(s),
    }


def remote_config(s: AsteriskSettings, syntax: str = "both",
                  templates: str | os.PathLike[str] | None = None) -> str:
    """The carrier-side configuration as text, ready to paste (PJSIP first, then chan_sip)."""
    if syntax not in SYNTAXES:
        raise ValueError(f"syntax must be one of {', '.join(SYNTAXES)}")
    root = templates_dir(templates) / "remote"
    values = remote_values(s)
    wanted = ("pjsip", "chan_sip") if syntax == "both" else (syntax,)
    parts = []
    for kind in wanted:
        name = f"{s.mode}.{kind}.conf"
        parts.append(fill((root / name).read_text(), values, f"remote/{name}").rstrip("\n"))
    return "\n\n".join(parts) + "\n"
