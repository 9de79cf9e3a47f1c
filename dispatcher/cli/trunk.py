"""``dispatcher trunk``: see the trunks' lines; pause, resume or limit admissions on one.

Pausing is for carrier maintenance or trouble on the lines: calls keep arriving and keep their
place in line, calls already on the wire are untouched, and nothing new is dialled until the
trunk is resumed. A line limit is for a carrier that lost a span or asks for fewer calls for a
while: at most that many of the configured lines are used, without a restart. Both live in
Redis, so they hold for every worker on every host.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatcher.adapters.redis.capacity import TrunkCapacity

RESUME_NOTE = ("admissions resume at the next pump: a submit, a call ending, or the sweeper "
               "within 5 s")


def _capacities() -> dict[str, TrunkCapacity]:
    from dispatcher import bootstrap
    from dispatcher.config import load_settings

    return bootstrap.trunk_capacities(load_settings().require("redis_url"))


def _one(name: str) -> TrunkCapacity:
    capacities = _capacities()
    if name not in capacities:
        raise SystemExit(f"no trunk named {name!r}; configured: {', '.join(capacities)}")
    return capacities[name]


def trunk_list(args: argparse.Namespace) -> int:
    for name, capacity in _capacities().items():
        usage = capacity.usage()
        state = "paused" if usage.paused else "admitting"
        limit = (f" (limited to {usage.line_limit})" if usage.line_limit is not None else "")
        print(f"{name}: {state}, {usage.in_use + usage.foreign}/{capacity.lines}{limit} lines "
              f"in use ({usage.foreign} by others), {usage.waiting} waiting")
    return 0


def trunk_pause(args: argparse.Namespace) -> int:
    _one(args.trunk).pause()
    print(f"{args.trunk}: paused; waiting calls stay in line, calls on the wire go on")
    return 0


def trunk_resume(args: argparse.Namespace) -> int:
    _one(args.trunk).resume()
    print(f"{args.trunk}: resumed; {RESUME_NOTE}")
    return 0


def trunk_limit(args: argparse.Namespace) -> int:
    capacity = _one(args.trunk)
    if args.lines == "off":
        capacity.limit_lines(None)
        print(f"{args.trunk}: all {capacity.lines} lines again; {RESUME_NOTE}")
        return 0
    try:
        capacity.limit_lines(int(args.lines))
    except ValueError as exc:
        raise SystemExit(f"{args.trunk}: {exc}; or 'off'") from None
    print(f"{args.trunk}: at most {int(args.lines)} of {capacity.lines} lines; calls on the "
          "wire go on, new ones wait while more are in use")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    trunk = sub.add_parser("trunk", help="list trunks; pause, resume or limit dialling on one")
    trunk_sub = trunk.add_subparsers(dest="trunk_command", required=True)
    trunk_sub.add_parser("list", help="lines in use, calls waiting, paused or not").set_defaults(
        func=trunk_list)
    for name, func, text in (("pause", trunk_pause, "stop admitting calls on a trunk"),
                             ("resume", trunk_resume, "admit calls on a trunk again")):
        command = trunk_sub.add_parser(name, help=text)
        command.add_argument("trunk")
        command.set_defaults(func=func)
    limit = trunk_sub.add_parser("limit", help="use at most N of a trunk's lines ('off': all)")
    limit.add_argument("trunk")
    limit.add_argument("lines", help="a number from 1 to the configured lines, or 'off'")
    limit.set_defaults(func=trunk_limit)
