"""``dispatcher campaign ...``: create, fill, run and watch outbound campaigns through the REST
API (``--api-url``/``DISPATCHER_API_URL``, ``--api-key``/``DISPATCHER_API_KEY``).

Exit codes: 0 done; 1 the API refused (its message is printed); 2 usage error or unusable
file; 3 the API is unreachable or failing (an interrupted upload resumes when rerun); 130
interrupted. Messages go to stderr; ids, statuses and summaries go to stdout.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dispatcher.cli.campaign_flags import create_body, settings_flags
from dispatcher.cli.campaign_render import FINAL, live_view, status_text, summary, summary_line
from dispatcher.cli.rest_command import (
    EXIT_CODES,
    connection_flags,
    run,
    say,
    subcommands,
)

if TYPE_CHECKING:
    from dispatcher.cli.api_client import ApiClient

FORMATS = {".csv": "csv", ".jsonl": "ndjson", ".ndjson": "ndjson"}


# --- commands -------------------------------------------------------------------------------


def _update(args: argparse.Namespace, client: ApiClient) -> int:
    from dispatcher.cli.api_client import campaign_path

    c = client.call("PATCH", campaign_path(args.id), json=create_body(args, require_name=False))
    say(f"updated campaign {c['id']} {c['name']!r} ({c['status']}): max_lines "
        f"{c['max_lines']}, {len(c.get('windows') or [])} window(s)")
    print(c["status"])
    return 0


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
    from dispatcher.cli.api_client import campaign_path

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

    from dispatcher.cli import api_client as api
    from dispatcher.cli import chunked_upload as up

    path = Path(args.file)
    fmt = args.format or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise api.InputError(f"cannot tell the format of {path}: pass --format csv|ndjson")
    try:
        size = path.stat().st_size
        path.open("rb").close()
    except OSError as exc:
        raise api.InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    where = up.state_path(path, args.id)
    state = up.UploadState.load(where)
    if state is None:
        state = up.UploadState(args.id, fmt, size)
    elif (state.campaign, state.format, state.size) != (args.id, fmt, size):
        raise api.InputError(f"{where} is from another upload ({state.format}, {state.size} "
                             f"bytes); delete it to upload {path} from the start")
    else:
        say(f"resuming the upload of {path} at line {state.line} ({state.accepted} accepted "
            f"so far; {where})")
    console = Console(stderr=True)
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("upload", total=size, completed=state.offset)
        try:
            up.upload(client, args.id, path, state, args.chunk_rows,
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
        rejects = Path(args.rejects) if args.rejects else Path(f"{path.name}.rejects.csv")
        try:
            up.download_rejects(client, state.rejects, rejects)
        except api.ApiUnavailable:
            say(f"every row was sent; rerun the same command to fetch the report of rejected "
                f"rows ({where} remembers them)")
            raise
        say(f"rejected rows and the reasons are in {rejects}")
    where.unlink(missing_ok=True)
    return 0


def _status(args: argparse.Namespace, client: ApiClient) -> int:
    from dispatcher.cli.api_client import ApiUnavailable, campaign_path

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
            shown = status_text(c)
            why = f"  ({shown})" if shown != c.get("status") else ""
            print(f"{c.get('id')}  {c.get('status')!s:<9}  "
                  f"{100 * float(c.get('progress') or 0):5.1f}%  "
                  f"{(c.get('contacts') or {}).get('total', 0):>7}  {c.get('name')}{why}")
        cursor = page.get("next_cursor")
        if not cursor:
            return 0


def _export(args: argparse.Namespace, client: ApiClient) -> int:
    import csv

    from dispatcher.cli.api_client import campaign_path

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
    conn = connection_flags()
    parser = argparse.ArgumentParser(prog="dispatcher campaign", parents=[conn],
                                     description="Create, fill, run and watch outbound "
                                                 "campaigns through the REST API.",
                                     epilog=EXIT_CODES)
    command = subcommands(parser, conn)

    create = command("create", _create, "create a draft campaign; prints its id on stdout")
    create.add_argument("--trunk")
    settings_flags(create, name_help="required, here or in --json")
    update = command("update", _update, "change a draft, running or paused campaign's "
                                        "settings (the next calls use them)")
    update.add_argument("id", metavar="ID")
    settings_flags(update, name_help="a new name")
    upload = command("upload", _upload, "upload contacts in chunks; rerun to resume")
    upload.add_argument("id", metavar="ID")
    upload.add_argument("file", metavar="FILE")
    upload.add_argument("--chunk-rows", type=int, default=5000)
    upload.add_argument("--rejects", metavar="FILE",
                        help="where the rejected rows and their reasons go (default: "
                             "FILE.rejects.csv in the current directory)")
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
    if getattr(args, "chunk_rows", 1) < 1 or getattr(args, "interval", 1) <= 0:
        parser.error("--chunk-rows and --interval must be positive")
    return run(parser, args)
