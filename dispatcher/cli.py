"""The ``dispatcher`` command: run the stack, manage keys and schema, run the consumer or the
simulated PBX. Heavy imports happen inside each command so ``--help`` stays instant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _migrate(args: argparse.Namespace) -> int:
    from dispatcher.config import load_settings
    from dispatcher.db.migrate import upgrade

    upgrade(load_settings().require("database_url").database_url)
    print("database schema is up to date")
    return 0


def _apikey_create(args: argparse.Namespace) -> int:
    from dispatcher import services
    from dispatcher.config import load_settings
    from dispatcher.db.engine import make_engine, make_session_factory
    from dispatcher.stack import default_database_url

    settings = load_settings()
    url = settings.database_url or default_database_url()
    row, key = services.create_api_key(make_session_factory(make_engine(url)), args.name)
    print(f"created API key {row.name!r} (id {row.id}); it is shown only once:")
    print(key)
    return 0


def _events(args: argparse.Namespace) -> int:
    from workers.event_consumer import main

    return main()


def _run(args: argparse.Namespace) -> int:
    from dispatcher.stack import run_stack

    return run_stack(port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dispatcher", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="set up and run the whole stack (embedded services when "
                                     "DATABASE_URL, REDIS_URL or DISPATCHER_AMI_HOST are unset)")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(func=_run)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_migrate)
    apikey = sub.add_parser("apikey", help="manage API keys")
    apikey_sub = apikey.add_subparsers(dest="apikey_command", required=True)
    create = apikey_sub.add_parser("create", help="create a key; prints it as the last line")
    create.add_argument("name")
    create.set_defaults(func=_apikey_create)
    sub.add_parser("events", help="run the AMI event consumer").set_defaults(func=_events)
    sub.add_parser("pbxsim", help="run the simulated Asterisk (AMI) server", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["pbxsim"]:
        from dispatcher.pbxsim.cli import main as pbxsim_main

        return pbxsim_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
