"""``dispatcher pbxsim``: run the simulated Asterisk AMI until SIGINT/SIGTERM.

Used by the local stack in place of a real Asterisk. Credentials default to the dispatcher's own
``DISPATCHER_AMI_USERNAME``/``DISPATCHER_AMI_SECRET`` so both sides agree without repeating a
secret on the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType

from pbxsim.config import OUTCOMES, SimConfig
from pbxsim.server import PBXSimulator

log = logging.getLogger("pbxsim")


def _user(text: str) -> tuple[str, str]:
    name, sep, secret = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME:SECRET")
    return name, secret


def _rule(text: str) -> tuple[str, str]:
    pattern, sep, outcome = text.rpartition("=")
    if not sep or outcome not in OUTCOMES:
        raise argparse.ArgumentTypeError(f"expected REGEX=OUTCOME, OUTCOME in {OUTCOMES}")
    return pattern, outcome


def _mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        outcome, sep, weight = part.partition("=")
        if not sep or outcome not in OUTCOMES:
            raise argparse.ArgumentTypeError(f"expected outcome=weight, outcome in {OUTCOMES}")
        try:
            mix[outcome] = float(weight)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad weight {weight!r}") from exc
    return mix


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dispatcher pbxsim",
                                description="Simulated Asterisk 22 AMI with a carrier trunk.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5038)
    p.add_argument("--user", type=_user, action="append", metavar="NAME:SECRET",
                   help="AMI user (repeatable); default from DISPATCHER_AMI_USERNAME/_SECRET")
    p.add_argument("--trunk", default="carrier-trunk")
    p.add_argument("--lines", type=int, default=30)
    p.add_argument("--rule", type=_rule, action="append", default=[], metavar="REGEX=OUTCOME")
    p.add_argument("--mix", type=_mix, default=None, metavar="outcome=weight,...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ring-delay", type=float, default=0.01)
    p.add_argument("--answer-delay", type=float, default=1.0)
    p.add_argument("--talk-time", type=float, default=3.0)
    p.add_argument("--timeout-408", type=float, default=32.0)
    p.add_argument("--hold-max", type=float, default=3600.0,
                   help="seconds an answer-hold call stays up without an AMI Hangup")
    p.add_argument("--cdr-database-url", default=None, metavar="URL",
                   help="write CDRs to table cdr in this PostgreSQL, as cdr_pgsql does")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiplies every delay, the Originate Timeout and dialplan waits")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    users = dict(args.user or [])
    if not users:
        name = os.environ.get("DISPATCHER_AMI_USERNAME", "")
        secret = os.environ.get("DISPATCHER_AMI_SECRET", "")
        if not name or not secret:
            build_parser().error("no AMI user: pass --user NAME:SECRET or set "
                                 "DISPATCHER_AMI_USERNAME and DISPATCHER_AMI_SECRET")
        users = {name: secret}
    extra: dict[str, object] = {"mix": args.mix} if args.mix is not None else {}
    if args.cdr_database_url:
        from pbxsim.cdr_pgsql import PgCdrWriter

        extra["cdr_sink"] = PgCdrWriter(args.cdr_database_url)
    config = SimConfig(host=args.host, port=args.port, users=users, trunk=args.trunk,
                       lines=args.lines, rules=args.rule, seed=args.seed,
                       ring_delay=args.ring_delay, answer_delay=args.answer_delay,
                       talk_time=args.talk_time, timeout_408=args.timeout_408,
                       hold_max=args.hold_max, time_scale=args.time_scale, **extra)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sim = PBXSimulator(config).start()
    log.info("pbxsim listening on %s:%d (trunk %s, %d lines, users %s)", args.host, sim.port,
             args.trunk, args.lines, ", ".join(sorted(users)))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
