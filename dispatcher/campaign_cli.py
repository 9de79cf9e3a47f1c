"""``dispatcher campaign ...``: create, fill, run and watch outbound campaigns through the REST
API (``--api-url``/``DISPATCHER_API_URL``, ``--api-key``/``DISPATCHER_API_KEY``).

Exit codes: 0 done; 1 the API refused (its message is printed); 2 usage error or unusable
file; 3 the API is unreachable or failing (an interrupted upload resumes when rerun); 130
interrupted. Messages go to stderr; ids, statuses and summaries go to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType

    from dispatcher.api_client import ApiClient

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_CODES = ("exit codes: 0 done, 1 the API refused, 2 usage error or unusable file, 3 the API "
              "is unreachable or failing, 130 interrupted")
WEEK = ("sat", "sun", "mon", "tue", "wed", "thu", "fri")
RETRY_OUTCOMES = ("busy", "no-answer", "congestion", "failed")
FINAL = ("completed", "canceled")
CONTACT_STATES = ("pending", "dialing", "done", "skipped", "canceled")
CALL_STATUSES = ("queued", "initiated", "ringing", "in-progress", "completed", "busy",
                 "no-answer", "failed", "canceled")
FORMATS = {".csv": "csv", ".jsonl": "ndjson", ".ndjson": "ndjson"}
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_DELAY = re.compile(r"(\d+)([smh]?)")
Handler = Callable[[argparse.Namespace, "ApiClient"], int]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- flags -> JSON body ---------------------------------------------------------------------


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
    """``OUTCOME=ATTEMPTS:DELAY``; DELAY is seconds, or a number with s, m or h."""
    outcome, eq, rule = text.partition("=")
    outcome = outcome.strip().lower().replace("_", "-")
    attempts, colon, delay = rule.partition(":")
    match = _DELAY.fullmatch(delay.strip())
    if outcome not in RETRY_OUTCOMES or not eq or not colon or not attempts.strip().isdigit() \
            or not match:
        raise argparse.ArgumentTypeError(
            f"bad retry {text!r}: use OUTCOME=ATTEMPTS:DELAY, OUTCOME one of "
            f"{', '.join(RETRY_OUTCOMES)}, e.g. busy=3:10m")
    seconds = int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    return outcome, {"max_attempts": int(attempts), "delay": seconds}


def parse_var(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError(f"bad variable {text!r}: use NAME=VALUE")
    return name.strip(), value


def _caller_id(text: str) -> str:
    if not re.fullmatch(r"\+?\d+", text):
        raise argparse.ArgumentTypeError(f"bad caller id {text!r}: digits, optionally a +")
    return text


def create_body(args: argparse.Namespace) -> dict[str, Any]:
    """The POST body: ``--json`` first, then each flag given overrides it. Retry rules and
    variables merge key by key; windows and DNC lists given as flags replace the file's."""
    from dispatcher.api_client import InputError

    body: Any = {}
    if args.json:
        try:
            body = json.loads(Path(args.json).read_text() if args.json != "-"
                              else sys.stdin.read())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read --json {args.json}: {exc}") from None
        if not isinstance(body, dict):
            raise InputError(f"--json {args.json} must hold a JSON object")
    flags = {"name": args.name, "trunk": args.trunk, "caller_id": args.caller_id,
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
    if not body.get("name"):
        raise InputError("a campaign needs a name: --name, or \"name\" in --json")
    return body


# --- rendering ------------------------------------------------------------------------------


def _counts(counts: dict[str, int] | None, order: Sequence[str], zeros: bool = False) -> str:
    counts = counts or {}
    names = [*order, *sorted(set(counts) - set(order))]
    shown = [f"{name} {counts.get(name, 0)}" for name in names
             if zeros and name in order or counts.get(name)]
    return ", ".join(shown) or "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes \
        else f"{secs}s"


def _figures(c: dict[str, Any]) -> dict[str, str]:
    contacts = c.get("contacts") or {}
    return {
        "progress": f"{100 * float(c.get('progress') or 0):.1f}% of {contacts.get('total', 0)}",
        "contacts": _counts({k: v for k, v in contacts.items() if k != "total"},
                            CONTACT_STATES, zeros=True),
        "calls": _counts(c.get("calls"), CALL_STATUSES),
        "outcomes": _counts(c.get("outcomes"), ()),
        "rate": f"{float(c.get('rate_per_minute') or 0):.1f}/min",
        "eta": "-" if c.get("status") in FINAL else _duration(c.get("eta_seconds")),
    }


def summary_line(c: dict[str, Any]) -> str:
    f = _figures(c)
    return (f"{c.get('status')}  {f['progress']}  contacts: {f['contacts']}  calls: "
            f"{f['calls']}  outcomes: {f['outcomes']}  rate {f['rate']}  ETA {f['eta']}")


def summary(c: dict[str, Any]) -> str:
    head = f"campaign {c.get('id')}  {c.get('name', '')!r}  {c.get('status')}"
    return "\n".join([head, *(f"{k:<9} {v}" for k, v in _figures(c).items())])


def live_view(c: dict[str, Any]) -> RenderableType:
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    f = _figures(c)
    bar = Table.grid(padding=(0, 1))
    bar.add_row(ProgressBar(total=1.0, completed=float(c.get("progress") or 0), width=40),
                f["progress"])
    grid = Table.grid(padding=(0, 2))
    grid.add_row("[bold]campaign", f"{c.get('id')}  {c.get('name', '')}  "
                                   f"[bold]{c.get('status')}")
    grid.add_row("[bold]progress", bar)
    for key in ("contacts", "calls", "outcomes", "rate", "eta"):
        grid.add_row(f"[bold]{key}", f[key])
    return grid


# --- commands -------------------------------------------------------------------------------


def _create(args: argparse.Namespace, client: ApiClient) -> int:
    c = client.call("POST", "/v1/campaigns", json=create_body(args))
    details = [f"{k} {c[k]}" for k in ("trunk", "max_lines", "cps", "timezone") if c.get(k)]
    details += [f"{len(c.get('windows') or [])} window(s)"]
    details += [f"retry {o} {r.get('max_attempts')}x/{r.get('delay')}s"
                for o, r in (c.get("retry") or {}).items() if isinstance(r, dict)]
    say(f"created campaign {c['id']} {c.get('name')!r} ({c.get('status')}): "
        + ", ".join(details))
    print(c["id"])
    return 0


def _transition(args: argparse.Namespace, client: ApiClient) -> int:
    from dispatcher.api_client import campaign_path

    print(client.call("POST", campaign_path(args.id, args.action))["status"])
    return 0


def _upload(args: argparse.Namespace, client: ApiClient) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from dispatcher import api_client as api

    path = Path(args.file)
    fmt = args.format or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise api.InputError(f"cannot tell the format of {path}: pass --format csv|ndjson")
    try:
        size = path.stat().st_size
        path.open("rb").close()
    except OSError as exc:
        raise api.InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    where = api.state_path(path, args.id)
    state = api.UploadState.load(where)
    if state is None:
        state = api.UploadState(args.id, fmt, size)
    elif (state.campaign, state.format, state.size) != (args.id, fmt, size):
        raise api.InputError(f"{where} is from another upload ({state.format}, {state.size} "
                             f"bytes); delete it to upload {path} from the start")
    else:
        say(f"resuming the upload of {path} at line {state.line} ({state.accepted} accepted "
            f"so far; {where}); rows of a chunk that was in flight when it stopped may come "
            "back as duplicates")
    console = Console(stderr=True)
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("upload", total=size, completed=state.offset)
        try:
            api.upload(client, args.id, path, state, args.chunk_rows,
                       on_chunk=lambda chunk: bar.update(task, completed=chunk.end_offset),
                       on_retry=lambda exc, delay: console.print(
                           f"{exc}; retrying in {delay:.1f} s"),
                       sleep=time.sleep)
        except (api.ApiError, api.ApiUnavailable, KeyboardInterrupt):
            bar.stop()
            if where.exists():
                say(f"stopped before line {state.line}; the chunks acknowledged so far are "
                    f"recorded in {where}: rerun the same command to resume")
            raise
    say(f"{path}: {state.received} rows received, {state.accepted} accepted, "
        f"{state.duplicates} duplicates, {state.rejected} rejected")
    if state.rejects:
        rejects = path.with_name(path.name + ".rejects.csv")
        try:
            api.download_rejects(client, state.rejects, rejects)
        except api.ApiUnavailable:
            say(f"every row was sent; rerun the same command to fetch the report of rejected "
                f"rows ({where} remembers them)")
            raise
        say(f"rejected rows and the reasons are in {rejects}")
    where.unlink(missing_ok=True)
    return 0


def _status(args: argparse.Namespace, client: ApiClient) -> int:
    from dispatcher.api_client import ApiUnavailable, campaign_path

    def fetch() -> dict[str, Any]:
        answer: dict[str, Any] = client.call("GET", campaign_path(args.id))
        return answer

    c = fetch()
    if not args.follow:
        print(summary(c))
        return 0
    from rich.console import Console
    from rich.live import Live

    console = Console()
    live = Live(live_view(c), console=console, auto_refresh=False) if console.is_terminal \
        else None
    failures = 0
    with live if live is not None else nullcontext():
        while True:
            if live is None:
                print(summary_line(c), flush=True)
            if c.get("status") in FINAL:
                return 0
            time.sleep(args.interval)
            try:
                c, failures = fetch(), 0
            except ApiUnavailable as exc:  # ride out a restart of the API; give up if it stays
                failures += 1
                if failures >= 10:
                    raise
                say(f"{exc}; still trying")
                continue
            if live is not None:
                live.update(live_view(c), refresh=True)


def _list(args: argparse.Namespace, client: ApiClient) -> int:
    cursor: str | None = None
    while True:
        page = client.call("GET", "/v1/campaigns", params={"cursor": cursor} if cursor else None)
        for c in page.get("data") or []:
            print(f"{c.get('id')}  {c.get('status')!s:<9}  "
                  f"{100 * float(c.get('progress') or 0):5.1f}%  "
                  f"{(c.get('contacts') or {}).get('total', 0):>7}  {c.get('name')}")
        cursor = page.get("next_cursor")
        if not cursor:
            return 0


def _export(args: argparse.Namespace, client: ApiClient) -> int:
    import csv

    from dispatcher.api_client import campaign_path

    dest = Path(args.file)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with open(tmp, "wb") as out:
            client.download(campaign_path(args.id, "export"), out)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    with open(dest, newline="", encoding="utf-8", errors="replace") as f:
        rows = max(sum(1 for _ in csv.reader(f)) - 1, 0)
    say(f"exported {rows} contacts to {dest}")
    print(rows)
    return 0


# --- parser and entry point -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--api-url", default=argparse.SUPPRESS,
                      help=f"env DISPATCHER_API_URL, default {DEFAULT_URL}")
    conn.add_argument("--api-key", default=argparse.SUPPRESS,
                      help="env DISPATCHER_API_KEY (preferred: a flag shows in ps)")
    parser = argparse.ArgumentParser(prog="dispatcher campaign", parents=[conn],
                                     description="Create, fill, run and watch outbound "
                                                 "campaigns through the REST API.",
                                     epilog=EXIT_CODES)
    sub = parser.add_subparsers(dest="action", required=True, metavar="COMMAND")

    def command(name: str, func: Handler, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[conn], help=text, description=text)
        p.set_defaults(func=func)
        return p

    create = command("create", _create, "create a draft campaign; prints its id on stdout")
    create.add_argument("--name", help="required, here or in --json")
    create.add_argument("--trunk")
    create.add_argument("--caller-id", type=_caller_id)
    create.add_argument("--max-lines", type=int, metavar="N")
    create.add_argument("--cps", type=float, metavar="X", help="calls started per second")
    create.add_argument("--timeout", type=int, metavar="S", help="ring seconds (5-120)")
    create.add_argument("--priority", type=int, metavar="P", help="0-9")
    create.add_argument("--timezone", metavar="TZ", help="IANA name; server default Asia/Tehran")
    create.add_argument("--retry", type=parse_retry, action="append",
                        metavar="OUTCOME=ATTEMPTS:DELAY",
                        help=f"OUTCOME in {', '.join(RETRY_OUTCOMES)}; DELAY like 600, 10m, 1h")
    create.add_argument("--window", type=parse_window, action="append",
                        metavar="DAYS@HH:MM-HH:MM",
                        help="calling hours, repeatable; DAYS like sat-wed, mon,wed or all "
                             "(week order sat..fri), e.g. sat-wed@09:00-17:00")
    create.add_argument("--dnc", action="append", metavar="NAME",
                        help="do-not-call list, repeatable")
    create.add_argument("--var", type=parse_var, action="append", metavar="NAME=VALUE",
                        help="dialplan variable for every call, repeatable")
    create.add_argument("--json", metavar="FILE", help="a full JSON body (- for stdin); "
                                                      "flags override it")
    upload = command("upload", _upload, "upload contacts in chunks; rerun to resume")
    upload.add_argument("id", metavar="ID")
    upload.add_argument("file", metavar="FILE")
    upload.add_argument("--chunk-rows", type=int, default=5000)
    upload.add_argument("--format", choices=("csv", "ndjson"),
                        help="default from the extension: .csv, .jsonl or .ndjson")
    for action in ("start", "pause", "resume", "cancel"):
        command(action, _transition, f"{action} a campaign; prints its new status") \
            .add_argument("id", metavar="ID")
    status = command("status", _status, "progress, counts, rate and ETA")
    status.add_argument("id", metavar="ID")
    status.add_argument("--follow", action="store_true", help="refresh until it finishes")
    status.add_argument("--interval", type=float, default=1.0, metavar="SECONDS")
    command("list", _list, "all campaigns: id, status, progress, contacts, name")
    export = command("export", _export, "every contact's state and outcome as CSV")
    export.add_argument("id", metavar="ID")
    export.add_argument("file", metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    url = getattr(args, "api_url", None) or os.environ.get("DISPATCHER_API_URL") or DEFAULT_URL
    key = getattr(args, "api_key", None) or os.environ.get("DISPATCHER_API_KEY")
    if not key:
        parser.error("no API key: set DISPATCHER_API_KEY or pass --api-key")
    if not url.startswith(("http://", "https://")):
        parser.error(f"--api-url {url!r} must start with http:// or https://")
    if getattr(args, "chunk_rows", 1) < 1 or getattr(args, "interval", 1) <= 0:
        parser.error("--chunk-rows and --interval must be positive")

    from dispatcher.api_client import ApiClient, ApiError, ApiUnavailable, InputError

    try:
        return int(args.func(args, ApiClient(url, key)))
    except ApiError as exc:
        say(f"error: {exc.message}" + (f" (field: {exc.field})" if exc.field else ""))
        return 1
    except InputError as exc:
        say(f"error: {exc}")
        return 2
    except ApiUnavailable as exc:
        say(f"error: {exc}")
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # ``status --follow | head``: the reader has gone, so be quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
