"""``dispatcher dnc ...``: do-not-call lists through the REST API: create one, add or remove
numbers, import a file of them, list the lists or a list's numbers, check one number.

Numbers are stored in E.164, so any spelling of a number matches it. An import sends the file
in batches of the API's maximum; the lines it could not read as numbers are reported with their
line numbers, and the rest are added (adding a number twice changes nothing, so an import can be
rerun).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from dispatcher.cli.rest_command import (
    EXIT_CODES,
    connection_flags,
    run,
    say,
    subcommands,
)

if TYPE_CHECKING:
    from dispatcher.cli.api_client import ApiClient

BATCH = 1000  # the API's maximum per request (dispatcher.domain.dnc_rules.MAX_BATCH)
NUMBER_COLUMNS = ("number", "to", "phone", "msisdn")


def _path(name: str, *rest: str) -> str:
    return "/".join([f"/v1/dnc-lists/{quote(name, safe='')}", *rest])


def _create(args: argparse.Namespace, client: ApiClient) -> int:
    row = client.call("POST", "/v1/dnc-lists",
                      json={"name": args.name, "description": args.description})
    say(f"created do-not-call list {row['name']!r}")
    print(row["name"])
    return 0


def _add_batch(client: ApiClient, name: str, numbers: list[str],
               lines: list[int]) -> tuple[int, list[str]]:
    """Added count, and one message per number the API could not read."""
    answer = client.call("POST", _path(name, "numbers"), json={"numbers": numbers})
    invalid = [f"line {lines[item['index']]}: {numbers[item['index']]!r} {item['reason']}"
               for item in answer.get("invalid", [])]
    return int(answer["added"]), invalid


def _add(args: argparse.Namespace, client: ApiClient) -> int:
    added, invalid = _add_batch(client, args.name, list(args.numbers),
                                list(range(1, len(args.numbers) + 1)))
    for message in invalid:
        say(message.replace("line", "number", 1))
    say(f"{args.name}: {added} number(s) added, {len(invalid)} not a phone number")
    print(added)
    return 1 if invalid and not added else 0


def _numbers_in(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text): a CSV with a number column, or one number per line."""
    from dispatcher.cli.api_client import InputError

    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        first = handle.readline()
        header = [c.strip().lower() for c in next(csv.reader([first]), [])]
        column = next((header.index(c) for c in NUMBER_COLUMNS if c in header), None)
        if column is None:  # no header: the first line is a number too
            handle.seek(0)
            column, start = 0, 1
        else:
            start = 2
        for line, row in enumerate(csv.reader(handle), start=start):
            if len(row) > column and row[column].strip():
                yield line, row[column].strip()


def _import(args: argparse.Namespace, client: ApiClient) -> int:
    added = read = 0
    invalid: list[str] = []
    batch: list[str] = []
    lines: list[int] = []

    def send() -> None:
        nonlocal added
        got, bad = _add_batch(client, args.name, batch, lines)
        added += got
        invalid.extend(bad)
        batch.clear()
        lines.clear()

    for line, number in _numbers_in(Path(args.file)):
        read += 1
        if len(number) > 32:  # the API refuses a whole batch over one such string
            invalid.append(f"line {line}: {number[:32]!r}... is too long for a phone number")
            continue
        batch.append(number)
        lines.append(line)
        if len(batch) == BATCH:
            send()
    if batch:
        send()
    for message in invalid[:20]:
        say(message)
    if len(invalid) > 20:
        say(f"... and {len(invalid) - 20} more not read as phone numbers")
    say(f"{args.name}: {read} number(s) read, {added} added (the rest were on the list "
        f"already or not phone numbers: {len(invalid)})")
    print(added)
    return 0


def _remove(args: argparse.Namespace, client: ApiClient) -> int:
    client.request("DELETE", _path(args.name, "numbers", quote(args.number, safe="")))
    say(f"{args.name}: {args.number} removed")
    return 0


def _list(args: argparse.Namespace, client: ApiClient) -> int:
    if args.name is None:
        for row in client.call("GET", "/v1/dnc-lists")["data"]:
            print(f"{row['name']:<24} {row['numbers']:>9}  {row['description'] or ''}")
        return 0
    if args.check:
        found = client.call("GET", _path(args.name, "numbers"),
                            params={"number": args.check})["data"]
        print("listed" if found else "not listed")
        return 0 if found else 1
    cursor = None
    while True:
        params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        page = client.call("GET", _path(args.name, "numbers"), params=params)
        for number in page["data"]:
            print(number)
        cursor = page.get("next_cursor")
        if not cursor:
            return 0


def build_parser() -> argparse.ArgumentParser:
    conn = connection_flags()
    parser = argparse.ArgumentParser(prog="dispatcher dnc", parents=[conn],
                                     description="Do-not-call lists through the REST API.",
                                     epilog=EXIT_CODES)
    command = subcommands(parser, conn)

    create = command("create", _create, "create a list (campaigns name it in --dnc)")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--description")
    add = command("add", _add, "add numbers, in any spelling")
    add.add_argument("name", metavar="NAME")
    add.add_argument("numbers", metavar="NUMBER", nargs="+")
    remove = command("remove", _remove, "take one number off a list")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("number", metavar="NUMBER")
    imp = command("import", _import, "add every number of a file: one per line, or a CSV "
                                     f"with a {'/'.join(NUMBER_COLUMNS)} column")
    imp.add_argument("name", metavar="NAME")
    imp.add_argument("file", metavar="FILE")
    lst = command("list", _list, "the lists with their sizes, or one list's numbers")
    lst.add_argument("name", metavar="NAME", nargs="?")
    lst.add_argument("--check", metavar="NUMBER",
                     help="only say whether this number is on the list (exit 1 if not)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "check", None) and args.name is None:
        parser.error("--check needs a list NAME")
    return run(parser, args)
