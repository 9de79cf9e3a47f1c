"""The ``dispatcher`` command: run the stack, manage keys and schema, run the consumer or the
simulated PBX. Heavy imports happen inside each command so ``--help`` stays instant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dispatcher.config import SettingsError


def _database_url() -> str:
    """The database the stack uses: ``DATABASE_URL``, else the embedded one under .run/
    (started if needed, and always migrated, since it is ours)."""
    from dispatcher.adapters.db.migrate import upgrade
    from dispatcher.config import load_settings
    from dispatcher.devstack.stack import default_database_url

    url = load_settings().database_url
    if url:
        return url
    url = default_database_url()
    upgrade(url)
    return url


def _migrate(args: argparse.Namespace) -> int:
    from dispatcher.adapters.db.migrate import upgrade

    upgrade(_database_url())
    print("database schema is up to date")
    return 0


def _sessions():  # type: ignore[no-untyped-def]
    from dispatcher.adapters.db.engine import make_engine, make_session_factory

    return make_session_factory(make_engine(_database_url()))


def _apikey_create(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from dispatcher.usecases import api_keys
    scopes = ("calls:read",) if args.read_only else api_keys.SCOPES
    expires = timedelta(days=args.expires_days) if args.expires_days else None
    row, key = api_keys.create_api_key(_sessions(), args.name, scopes=scopes,
                                       expires_in=expires, rate_limit=args.rate or None,
                                       max_active_calls=args.max_calls or None)
    until = f", expires {row.expires_at:%Y-%m-%d}" if row.expires_at else ""
    print(f"created API key {row.name!r} (id {row.id}, scopes {row.scopes}{until})")
    print(f"status callbacks are signed with: {row.callback_secret}")
    print("the key is shown only once:")
    print(key)
    return 0


def _apikey_rotate_secret(args: argparse.Namespace) -> int:
    from dispatcher.usecases import api_keys
    secret = api_keys.rotate_callback_secret(_sessions(), args.key)
    if secret is None:
        print(f"no active key matches {args.key!r}", file=sys.stderr)
        return 1
    print("new callback signing secret (deliveries from now on use it):")
    print(secret)
    return 0


def _apikey_list(args: argparse.Namespace) -> int:
    from dispatcher.adapters.db.api_keys import ApiKeyRepository

    with _sessions()() as session:
        for row in ApiKeyRepository(session).all():
            state = "revoked" if row.revoked_at else "active"
            print(f"{row.id}  {row.prefix}...  {row.name:<20} {row.scopes:<24} {state}"
                  + (f"  expires {row.expires_at:%Y-%m-%d}" if row.expires_at else ""))
    return 0


def _apikey_revoke(args: argparse.Namespace) -> int:
    from dispatcher.adapters.db.api_keys import ApiKeyRepository

    with _sessions().begin() as session:
        count = ApiKeyRepository(session).revoke(args.key)
    if count == 0:
        print(f"no active key matches {args.key!r}", file=sys.stderr)
        return 1
    print(f"revoked {count} key(s); API processes stop accepting it within 10 s")
    return 0


def _events(args: argparse.Namespace) -> int:
    """The consumer is its own process and its code lives with the workers; this command only
    starts it (the package never imports the entry points built on it)."""
    import os

    os.execv(sys.executable, [sys.executable, "-m", "workers.event_consumer"])


def _run(args: argparse.Namespace) -> int:
    from dispatcher.devstack.stack import run_stack

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
    create.add_argument("--read-only", action="store_true", help="scope calls:read only")
    create.add_argument("--expires-days", type=int, default=0, help="expire after N days")
    create.add_argument("--rate", type=int, default=0, help="requests per second (0: no limit)")
    create.add_argument("--max-calls", type=int, default=0,
                        help="calls in progress at once (0: no limit)")
    create.set_defaults(func=_apikey_create)
    apikey_sub.add_parser("list", help="list keys (never the secrets)").set_defaults(
        func=_apikey_list)
    revoke = apikey_sub.add_parser("revoke", help="revoke a key by id or shown prefix")
    revoke.add_argument("key")
    revoke.set_defaults(func=_apikey_revoke)
    rotate = apikey_sub.add_parser("rotate-secret", help="new signing secret for callbacks")
    rotate.add_argument("key")
    rotate.set_defaults(func=_apikey_rotate_secret)
    sub.add_parser("events", help="run the AMI event consumer").set_defaults(func=_events)
    from dispatcher.cli import trunk as trunk_cli

    trunk_cli.add_parser(sub)
    sub.add_parser("pbxsim", help="run the simulated Asterisk (AMI) server", add_help=False)
    sub.add_parser("asterisk", help="render asterisk-conf for a trunk mode, or print what the "
                                    "carrier's server needs (render, remote-config, cdr-table)",
                   add_help=False)
    sub.add_parser("campaign", help="create, upload contacts to, start, pause and watch "
                                    "campaigns through the REST API", add_help=False)
    sub.add_parser("dnc", help="do-not-call lists through the REST API (create, add, remove, "
                               "import, list)", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] not in (["run"], ["pbxsim"]):
        import os

        from dispatcher.devstack.stack_env import apply

        apply(os.environ)  # a `make run` going in another terminal: use its settings
    try:
        return _dispatch(args_list)
    except SettingsError as exc:
        print(f"dispatcher: {exc}", file=sys.stderr)
        if "missing required setting" in str(exc):
            print("  (start the stack with `make run` in this folder, or set it in the "
                  "environment)", file=sys.stderr)
        return 2


def _dispatch(args_list: list[str]) -> int:
    if args_list[:1] == ["pbxsim"]:
        from pbxsim.cli import main as pbxsim_main

        return pbxsim_main(args_list[1:])
    if args_list[:1] == ["asterisk"]:
        from dispatcher.asterisk.cli import main as asterisk_main

        return asterisk_main(args_list[1:])
    if args_list[:1] == ["campaign"]:
        from dispatcher.cli.campaign import main as campaign_main

        return campaign_main(args_list[1:])
    if args_list[:1] == ["dnc"]:
        from dispatcher.cli.dnc import main as dnc_main

        return dnc_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
