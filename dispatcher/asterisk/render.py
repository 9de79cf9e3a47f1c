"""Render ``asterisk-conf/templates`` into the configuration files Asterisk reads.

Templates are plain Asterisk files with ``{{name}}`` placeholders; Asterisk itself never uses
``{{``, so a placeholder can't be confused with dialplan ``${...}``. Values come only from
:class:`~dispatcher.asterisk.settings.AsteriskSettings`, whose loader has already refused
anything that could change the file's structure; blocks of several lines (permit lists, event
filters, dial patterns) are built here from those validated values. Every rendered file is then
parsed back (:mod:`dispatcher.asterisk.confparse`) so a template mistake fails the render, not
Asterisk's start-up.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path

from dispatcher.asterisk import confparse
from dispatcher.asterisk.settings import OUTBOUND_CONTEXT, AsteriskSettings
from dispatcher.asterisk.values import ConfError, dial_patterns, refuse_structural

# What the event consumer needs, by AMI class: call (channel life), system (boot, reload,
# trunk health), cdr (Cdr) and dialplan (VarSet, filtered down to CALL_ID below).
CONSUMER_EVENTS = (
    "Newchannel", "Newstate", "DialBegin", "DialState", "DialEnd", "HangupRequest",
    "SoftHangupRequest", "Hangup", "OriginateResponse", "FullyBooted", "Shutdown", "Reload",
    "Cdr", "PeerStatus", "ContactStatus", "Registry",
)
# VarSet of CALL_ID only; "__CALL_ID" is how the inherited copy on the trunk leg is reported.
CALL_ID_VARSET_REGEX = "^_*CALL_ID$"

RENDERED_FILES = (
    "pjsip.conf", "manager.conf", "extensions.conf", "modules.conf", "logger.conf", "rtp.conf",
    "cdr.conf", "cdr_manager.conf", "cel.conf", "http.conf",
    # Read by Asterisk's core (or res_pjproject) at start-up, which logs an ERROR or WARNING
    # when they are missing; small on purpose.
    "acl.conf", "ccss.conf", "features.conf", "indications.conf", "udptl.conf", "pjproject.conf",
)
# The codec (translator) modules a TRUNK_CODECS entry needs; with autoload off, a codec without
# its translator could be offered but not played to (sounds are signed linear or GSM). Codecs
# not listed here are passed through without a module.
CODEC_MODULES: dict[str, tuple[str, ...]] = {
    "alaw": ("codec_alaw.so",),
    "ulaw": ("codec_ulaw.so",),
    "gsm": ("codec_gsm.so",),
    "g722": ("codec_g722.so", "codec_resample.so"),
    "g726": ("codec_g726.so",),
    "ilbc": ("codec_ilbc.so",),
}
# Modules only one trunk mode needs: registering, and answering the carrier's digest challenge.
TRUNK_MODULES: dict[str, tuple[str, ...]] = {
    "peer": (),
    "register": ("res_pjsip_outbound_registration.so",
                 "res_pjsip_outbound_authenticator_digest.so"),
}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def templates_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the templates are: ``--templates``, ``ASTERISK_CONF_TEMPLATES``, or the checkout's
    ``asterisk-conf/templates`` (the Python image copies them and sets the variable)."""
    chosen = explicit or os.environ.get("ASTERISK_CONF_TEMPLATES")
    path = Path(chosen) if chosen else Path(__file__).resolve().parents[2] / "asterisk-conf" / \
        "templates"
    if not (path / "pjsip.conf").is_file():
        raise ConfError(f"Asterisk templates not found in {path}; set ASTERISK_CONF_TEMPLATES")
    return path


def fill(template: str, values: Mapping[str, str], name: str) -> str:
    """Replace every ``{{key}}``; an unknown key is a template bug and stops the render."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfError(f"template {name}: no value for {{{{{key}}}}}")
        return values[key]

    out = _PLACEHOLDER.sub(one, template)
    if "{{" in out or "}}" in out:
        raise ConfError(f"template {name}: malformed placeholder")
    return out


def _lines(key: str, items: tuple[str, ...] | list[str]) -> str:
    return "\n".join(f"{key} = {refuse_structural(key, item)}" for item in items)


def _acl(network: str) -> str:
    """``10.0.0.0/24`` as Asterisk's ``address/netmask`` (accepted by every version)."""
    net = ipaddress.ip_network(network, strict=False)
    return f"{net.network_address}/{net.netmask}"


def event_filter_lines() -> str:
    lines = [f"eventfilter(action(include),name({name})) =" for name in CONSUMER_EVENTS]
    lines.append("eventfilter(action(include),name(VarSet),header(Variable),method(regex)) = "
                 + CALL_ID_VARSET_REGEX)
    return "\n".join(lines)


def dial_pattern_lines(patterns: tuple[str, ...]) -> str:
    out = []
    for pattern in patterns:
        dial_patterns("ASTERISK_DIAL_PATTERNS", pattern)  # re-checked: the text goes in verbatim
        out.append(f"exten => {pattern},1,Gosub(dispatcher-trunk,s,1(${{EXTEN}}))")
        out.append(" same => n,Hangup(${HANGUPCAUSE})")
    return "\n".join(out)


def sip_bind(address: str, port: int) -> str:
    """``address:port`` for a transport's ``bind``; an IPv6 address in brackets, the only place
    a rendered value may hold ``[``/``]`` (the address is re-parsed, so nothing else gets in)."""
    ip = ipaddress.ip_address(address)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"{host}:{int(port)}"


def _nat_lines(s: AsteriskSettings) -> str:
    lines = []
    if s.external_address:
        lines += [f"external_signaling_address = {s.external_address}",
                  f"external_media_address = {s.external_address}"]
    lines += [f"local_net = {net}" for net in s.local_nets]
    return "\n".join(lines)


def template_values(s: AsteriskSettings) -> dict[str, str]:
    """Every placeholder's text: validated single values, or blocks built from them."""
    values = {
        "mode": s.mode,
        "endpoint": s.endpoint,
        "carrier_host": s.carrier_host,
        "carrier_port": str(s.carrier_port),
        "carrier_transport": f"transport-{s.carrier_transport}",
        "identify_match_lines": _lines("match", s.carrier_match),
        "codecs": ",".join(s.codecs),
        "qualify_seconds": str(s.qualify_seconds),
        "trunk_username": s.trunk_username,
        "trunk_password": s.trunk_password,
        "sip_port": str(s.sip_port),
        "sip_bind": sip_bind(s.sip_bind, s.sip_port),
        "transport_nat_lines": _nat_lines(s),
        "rtp_start": str(s.rtp_start),
        "rtp_end": str(s.rtp_end),
        "ami_port": str(s.ami_port),
        "ami_bind": s.ami_bind,
        "permit_lines": _lines("permit", [_acl(n) for n in s.ami_permit]),
        "permit_summary": ", ".join(s.ami_permit),
        "worker_user": s.worker_user,
        "worker_secret": s.worker_secret,
        "events_user": s.events_user,
        "events_secret": s.events_secret,
        "event_filter_lines": event_filter_lines(),
        "trunk_lines": str(s.trunk_lines),
        "max_call_seconds": str(s.max_call_seconds),
        "originate_context": s.originate_context,
        "originate_exten": s.originate_exten,
        "outbound_context": OUTBOUND_CONTEXT,
        "dial_pattern_lines": dial_pattern_lines(s.dial_patterns),
        "answer_sound": s.answer_sound,
        "default_caller_id": s.default_caller_id,
        "cdr_pgsql_module_line": "load => cdr_pgsql.so" if s.cdr else "noload => cdr_pgsql.so",
        "trunk_module_lines": "\n".join(f"load => {m}" for m in TRUNK_MODULES[s.mode]),
        "codec_module_lines": "\n".join(f"load => {m}" for m in codec_modules(s.codecs)),
    }
    if s.cdr:
        values.update(cdr_host=s.cdr.host, cdr_port=str(s.cdr.port), cdr_dbname=s.cdr.dbname,
                      cdr_user=s.cdr.user, cdr_password=s.cdr.password)
    for key, value in values.items():
        if "\n" not in value and key not in ("dial_pattern_lines", "sip_bind"):
            refuse_structural(key, value)
    return values


def codec_modules(codecs: tuple[str, ...]) -> list[str]:
    """The translators to load: one per trunk codec, alaw<->ulaw directly when both are offered,
    and GSM always, because the core sounds the image installs are GSM files."""
    out: list[str] = []
    for codec in codecs:
        out.extend(m for m in CODEC_MODULES.get(codec, ()) if m not in out)
    if "alaw" in codecs and "ulaw" in codecs:
        out.append("codec_a_mu.so")
    if "codec_gsm.so" not in out:
        out.append("codec_gsm.so")
    return out


def _header(name: str, mode: str) -> str:
    return (f"; Rendered by `dispatcher asterisk render --mode {mode}` from "
            f"asterisk-conf/templates/{name}.\n; Change the template or the environment and "
            "render again; edits here are lost.\n")


def render(s: AsteriskSettings, templates: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """File name -> content for every file Asterisk should read from /etc/asterisk."""
    root = templates_dir(templates)
    values = template_values(s)
    values["trunk_sections"] = fill((root / f"pjsip-{s.mode}.conf").read_text(), values,
                                    f"pjsip-{s.mode}.conf")
    names = list(RENDERED_FILES) + (["cdr_pgsql.conf"] if s.cdr else [])
    files = {}
    for name in names:
        body = fill((root / name).read_text(), values, name)
        files[name] = _header(name, s.mode) + body.rstrip("\n") + "\n"
    for name, content in files.items():
        try:
            confparse.parse(content)
        except confparse.ParseError as exc:
            raise ConfError(f"rendered {name} does not parse: {exc}") from None
    return files


def write(files: Mapping[str, str], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write atomically (a half-written pjsip.conf must never be loaded), readable by owner and
    group only: manager.conf, pjsip.conf and cdr_pgsql.conf hold secrets."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in sorted(files.items()):
        target = out / name
        tmp = out / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
        written.append(target)
    return written
