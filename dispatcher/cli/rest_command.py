"""What every command that works through the REST API shares: ``--api-url``/``--api-key``
(or ``DISPATCHER_API_URL``/``DISPATCHER_API_KEY``), and one set of exit codes, so scripts can
tell a refusal from an outage.

Exit codes: 0 done; 1 the API refused (its message is printed); 2 usage error or unusable
file; 3 the API is unreachable or failing; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatcher.cli.api_client import ApiClient

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_CODES = ("exit codes: 0 done, 1 the API refused, 2 usage error or unusable file, 3 the API "
              "is unreachable or failing, 130 interrupted")
Handler = Callable[[argparse.Namespace, "ApiClient"], int]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def connection_flags() -> argparse.ArgumentParser:
    """A parent parser, so the flags work before or after the subcommand."""
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--api-url", default=argparse.SUPPRESS,
                      help=f"env DISPATCHER_API_URL, default {DEFAULT_URL}")
    conn.add_argument("--api-key", default=argparse.SUPPRESS,
                      help="env DISPATCHER_API_KEY (preferred: a flag shows in ps)")
    return conn


def subcommands(parser: argparse.ArgumentParser,
                conn: argparse.ArgumentParser) -> Callable[[str, Handler, str],
                                                           argparse.ArgumentParser]:
    """A way to add subcommands that each take the connection flags and call a handler."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="COMMAND")

    def command(name: str, func: Handler, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[conn], help=text, description=text)
        p.set_defaults(func=func)
        return p

    return command


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Call the subcommand's handler with a client, turning failures into exit codes."""
    url = getattr(args, "api_url", None) or os.environ.get("DISPATCHER_API_URL") or DEFAULT_URL
    key = getattr(args, "api_key", None) or os.environ.get("DISPATCHER_API_KEY")
    if not key:
        parser.error("no API key: set DISPATCHER_API_KEY or pass --api-key "
                     "(with `make run` going in this folder, its key is found by itself)")
    if not url.startswith(("http://", "https://")):
        parser.error(f"--api-url {url!r} must start with http:// or https://")

    from dispatcher.cli.api_client import ApiClient, ApiError, ApiUnavailable, InputError

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
