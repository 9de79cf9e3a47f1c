"""The ``cdr`` table Asterisk's ``cdr_pgsql`` writes and the consumer's reconciliation reads.

``cdr_pgsql`` inserts only into a table that already exists, and our migrations don't own it
(it is Asterisk's schema), so this command has it created, from the same definition the
simulated PBX uses (:mod:`dispatcher.adapters.db.cdr_schema`). When Asterisk logs in as its
own user, that user gets INSERT on ``cdr`` and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


def schema_sql() -> str:
    """The table as cdr_pgsql needs it, and the upgrade of one made earlier, as one script."""
    from dispatcher.adapters.db.cdr_schema import schema_sql as sql

    return sql()


def grant_statements(cdr_user: str) -> list[tuple[str, str]]:
    """What a separate cdr_pgsql user needs, as (step, SQL), one statement each: INSERT
    on ``cdr``, and UTC as its session time zone (cdr_pgsql writes UTC times without an offset,
    and a ``timestamptz`` column reads them in the session's zone). The name is checked, then
    quoted."""
    if not re.fullmatch(r"[A-Za-z0-9_\-.]{1,63}", cdr_user):
        raise ValueError(f"not a plain PostgreSQL role name: {cdr_user!r}")
    return [
        (f"grant INSERT on cdr to {cdr_user}", f'GRANT INSERT ON cdr TO "{cdr_user}";'),
        (f"set the time zone of {cdr_user} to UTC",
         f"ALTER ROLE \"{cdr_user}\" SET timezone = 'UTC';"),
    ]


def grant_sql(cdr_user: str) -> str:
    """:func:`grant_statements` as a script, for an admin to run by hand."""
    return "".join(sql + "\n" for _, sql in grant_statements(cdr_user))


def apply(env: Mapping[str, str]) -> str:
    """Create the table (idempotent) as the dispatcher's database owner; grant the CDR user.

    Returns one line per step ("done: ..." or "FAILED: ... (why)"), for the log of the one-shot
    migrate service. Each grant runs in a transaction of its own: a managed database's owner can
    usually GRANT on its own table but not ALTER another role (that needs CREATEROLE), and one
    failing statement must not roll back the other. What failed is printed with the SQL to run
    as an admin, instead of failing the whole deployment over it.
    """
    from urllib.parse import unquote, urlsplit

    from dispatcher.adapters.db.cdr_schema import create_table
    from dispatcher.asterisk import values
    from dispatcher.config import load_settings

    if not values.flag(env, "ASTERISK_CDR_PGSQL", True):
        return "ASTERISK_CDR_PGSQL=no: cdr table not created"
    owner_url = load_settings(env).require("database_url").database_url
    cdr_url = (env.get("ASTERISK_CDR_DATABASE_URL") or "").strip()
    owner = unquote(urlsplit(owner_url).username or "")
    cdr_user = unquote(urlsplit(cdr_url).username or "") if cdr_url else owner
    grants = grant_statements(cdr_user) if cdr_user and cdr_user != owner else []
    lines, failed = create_table(owner_url, grants)
    if failed:
        lines.append("Run as an admin:\n" + "\n".join(failed))
    return "\n".join(lines)
