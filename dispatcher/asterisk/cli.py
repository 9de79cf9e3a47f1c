"""``dispatcher asterisk ...``: render our Asterisk configuration, print the carrier's side.

Also runnable as ``python -m dispatcher.asterisk.cli`` (compose's one-shot services use that).
A missing or unsafe setting prints one ``error:`` line naming the variable and exits 2, so a
deployment stops before Asterisk starts with a half-configured trunk.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from dispatcher.asterisk.values import ConfError


def _render(args: argparse.Namespace) -> int:
    from dispatcher.asterisk.render import render, write
    from dispatcher.asterisk.settings import load

    settings = load(args.env, args.mode)
    written = write(render(settings, args.templates), args.out)
    print(f"rendered {len(written)} files for trunk mode {settings.mode} into {args.out}")
    if settings.mode == "register" and not settings.external_address:
        print("note: SIP_EXTERNAL_ADDRESS is unset; audio relies on the carrier's symmetric "
              "RTP (rtp_symmetric / nat=comedia) to reach us through NAT", file=sys.stderr)
    return 0


def _remote(args: argparse.Namespace) -> int:
    from dispatcher.asterisk.remote import remote_config
    from dispatcher.asterisk.settings import load_remote

    sys.stdout.write(remote_config(load_remote(args.env, args.mode), args.syntax,
                                   args.templates))
    return 0


def _cdr_table(args: argparse.Namespace) -> int:
    from dispatcher.asterisk import cdr_table

    if args.apply:
        print(cdr_table.apply(args.env))
    else:
        sys.stdout.write(cdr_table.schema_sql())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dispatcher asterisk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write the Asterisk configuration files")
    render.add_argument("--mode", choices=("peer", "register"),
                        help="trunk mode (default: TRUNK_MODE)")
    render.add_argument("--out", required=True, help="directory to write into")
    render.add_argument("--templates", help="template directory (default: asterisk-conf/"
                                            "templates or ASTERISK_CONF_TEMPLATES)")
    render.set_defaults(func=_render)
    remote = sub.add_parser("remote-config",
                            help="print what the carrier's Asterisk needs to match our side")
    remote.add_argument("--mode", choices=("peer", "register"),
                        help="trunk mode (default: TRUNK_MODE)")
    remote.add_argument("--syntax", choices=("pjsip", "chan_sip", "both"), default="both")
    remote.add_argument("--templates", help=argparse.SUPPRESS)
    remote.set_defaults(func=_remote)
    cdr = sub.add_parser("cdr-table", help="print (or --apply) the cdr table cdr_pgsql needs")
    cdr.add_argument("--apply", action="store_true",
                     help="create it in DATABASE_URL and grant the CDR user INSERT")
    cdr.set_defaults(func=_cdr_table)
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one subcommand; ``env`` (default ``os.environ``) is where settings come from."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    args.env = os.environ if env is None else env
    try:
        return int(args.func(args))
    except ConfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
