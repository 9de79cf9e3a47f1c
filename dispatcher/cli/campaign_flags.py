"""``dispatcher campaign create``/``update`` flags, and how they become the JSON body of
``POST /v1/campaigns`` (or ``PATCH``).

Only the shape of each flag is checked here; the server checks the values (ranges, names) and
answers 422 naming the field, so the rules live in one place.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

WEEK = ("sat", "sun", "mon", "tue", "wed", "thu", "fri")
RETRY_OUTCOMES = ("busy", "no-answer", "congestion", "failed")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_DELAY = re.compile(r"(\d+)([smh]?)")


def parse_days(text: str) -> list[str]:
    """``sat-wed``, ``mon,wed``, ``thu-sat`` (wraps past Friday) or ``all``, in week order."""
    chosen: set[str] = set()
    for part in text.lower().replace("all", "sat-fri").split(","):
        first, dash, last = part.strip().partition("-")
        last = last if dash else first
        if first not in WEEK or last not in WEEK:
            raise argparse.ArgumentTypeError(
                f"bad days {text!r}: use {','.join(WEEK)}, ranges like sat-wed, or all")
        start, span = WEEK.index(first), (WEEK.index(last) - WEEK.index(first)) % 7
        chosen.update(WEEK[(start + k) % 7] for k in range(span + 1))
    return [day for day in WEEK if day in chosen]


def _clock(text: str, end: bool = False) -> str:
    match = _TIME.fullmatch(text.strip())
    value = f"{int(match[1]):02d}:{match[2]}" if match else text
    if value == "24:00" and end:
        return value
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise argparse.ArgumentTypeError(
            f"bad time {text!r}: use HH:MM, 00:00 to 23:59 (an end may be 24:00)")
    return value


def parse_window(text: str) -> dict[str, Any]:
    """``DAYS@HH:MM-HH:MM``; without ``DAYS@`` the window applies every day. A start after
    the end spans midnight, which the server accepts, so it is not refused here."""
    days, at, span = text.rpartition("@")
    start, dash, end = span.partition("-")
    if not dash:
        raise argparse.ArgumentTypeError(f"bad window {text!r}: use DAYS@HH:MM-HH:MM")
    return {"days": parse_days(days if at else "all"), "start": _clock(start),
            "end": _clock(end, end=True)}


def parse_retry(text: str) -> tuple[str, dict[str, int]]:
    """``OUTCOME=Nx:DELAY``: at most N attempts in all for a contact whose last call ended so
    (the first call counts: ``busy=3x:10m`` is the first call and up to two retries, 10 min
    apart). DELAY is seconds, or a number with s, m or h. The ``x`` is required: a bare
    ``busy=1:30s`` reads as "one retry" and would have meant none."""
    outcome, eq, rule = text.partition("=")
    outcome = outcome.strip().lower().replace("_", "-")
    attempts, colon, delay = rule.partition(":")
    attempts = attempts.strip().lower()
    match = _DELAY.fullmatch(delay.strip())
    usage = (f"bad retry {text!r}: use OUTCOME=Nx:DELAY (N attempts in all, the first call "
             f"included), OUTCOME one of {', '.join(RETRY_OUTCOMES)}, e.g. busy=3x:10m")
    if outcome not in RETRY_OUTCOMES or not eq or not colon or not match:
        raise argparse.ArgumentTypeError(usage)
    if attempts.isdigit():
        raise argparse.ArgumentTypeError(
            f"bad retry {text!r}: write {outcome}={attempts}x:{delay.strip()} for {attempts} "
            f"attempt(s) in all, the first call included, or "
            f"{outcome}={int(attempts) + 1}x:{delay.strip()} for {attempts} "
            f"retr{'y' if attempts == '1' else 'ies'} after it")
    if not (attempts.endswith("x") and attempts[:-1].isdigit()):
        raise argparse.ArgumentTypeError(usage)
    seconds = int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    return outcome, {"max_attempts": int(attempts[:-1]), "delay": seconds}


def parse_var(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError(f"bad variable {text!r}: use NAME=VALUE")
    return name.strip(), value


def caller_id_flag(text: str) -> str:
    if not re.fullmatch(r"\+?\d+", text):
        raise argparse.ArgumentTypeError(f"bad caller id {text!r}: digits, optionally a +")
    return text


def create_body(args: argparse.Namespace, require_name: bool = True) -> dict[str, Any]:
    """The POST (or PATCH) body: ``--json`` first, then each flag given overrides it. Retry
    rules and variables merge key by key; windows and DNC lists given as flags replace the
    file's."""
    from dispatcher.cli.api_client import InputError

    body: Any = {}
    if args.json:
        try:
            body = json.loads(Path(args.json).read_text() if args.json != "-"
                              else sys.stdin.read())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read --json {args.json}: {exc}") from None
        if not isinstance(body, dict):
            raise InputError(f"--json {args.json} must hold a JSON object")
    flags = {"name": args.name, "trunk": getattr(args, "trunk", None),
             "caller_id": args.caller_id,
             "max_lines": args.max_lines, "cps": args.cps, "timeout": args.timeout,
             "priority": args.priority, "timezone": args.timezone,
             "windows": args.window, "dnc_lists": args.dnc}
    body.update({key: value for key, value in flags.items() if value is not None})
    for key, pairs in (("retry", args.retry), ("variables", args.var)):
        if pairs:
            base = body.get(key) or {}
            if not isinstance(base, dict):
                raise InputError(f"{key!r} in --json must be an object")
            body[key] = {**base, **dict(pairs)}
    if require_name and not body.get("name"):
        raise InputError("a campaign needs a name: --name, or \"name\" in --json")
    if not body:
        raise InputError("nothing to change: give at least one setting")
    return body


def settings_flags(p: argparse.ArgumentParser, name_help: str) -> None:
    """The settings flags shared by create and update."""
    p.add_argument("--name", help=name_help)
    p.add_argument("--caller-id", type=caller_id_flag)
    p.add_argument("--max-lines", type=int, metavar="N")
    p.add_argument("--cps", type=float, metavar="X", help="calls started per second")
    p.add_argument("--timeout", type=int, metavar="S", help="ring seconds (5-120)")
    p.add_argument("--priority", type=int, metavar="P", help="0-9")
    p.add_argument("--timezone", metavar="TZ", help="IANA name; server default Asia/Tehran")
    p.add_argument("--retry", type=parse_retry, action="append",
                   metavar="OUTCOME=Nx:DELAY",
                   help=f"after a call ending {'/'.join(RETRY_OUTCOMES)}, try again DELAY "
                        "later (600, 10m, 1h) until N attempts in all, the first call "
                        "included: busy=3x:10m is the call and up to 2 retries")
    p.add_argument("--window", type=parse_window, action="append",
                   metavar="DAYS@HH:MM-HH:MM",
                   help="calling hours, repeatable; DAYS like sat-wed, mon,wed or all "
                        "(week order sat..fri), e.g. sat-wed@09:00-17:00")
    p.add_argument("--dnc", action="append", metavar="NAME",
                   help="do-not-call list, repeatable")
    p.add_argument("--var", type=parse_var, action="append", metavar="NAME=VALUE",
                   help="dialplan variable for every call, repeatable")
    p.add_argument("--json", metavar="FILE",
                   help="a full JSON body (- for stdin); flags override it")
