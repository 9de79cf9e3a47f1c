"""The ``cdr`` table Asterisk's ``cdr_pgsql`` writes and the consumer's reconciliation reads.

``cdr_pgsql`` inserts only into a table that already exists, and our migrations don't own it
(it is Asterisk's schema), so it is created here, from the same definition the simulated PBX
uses (:data:`dispatcher.pbxsim.cdr_pgsql.SCHEMA`). When Asterisk logs in as its own user, that
user gets INSERT on ``cdr`` and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A cdr table made earlier from Asterisk's stock schema lacks the columns reconciliation
# prefers; cdr_pgsql fills them as soon as they exist.
_UPGRADE = """
ALTER TABLE cdr ADD COLUMN IF NOT EXISTS answer timestamptz;
ALTER TABLE cdr ADD COLUMN IF NOT EXISTS "end" timestamptz;
ALTER TABLE cdr ADD COLUMN IF NOT EXISTS hangupcause integer;
"""


def schema_sql() -> str:
    from dispatcher.pbxsim.cdr_pgsql import SCHEMA

    return SCHEMA.strip() + "\n" + _UPGRADE.lstrip()


def grant_sql(cdr_user: str) -> str:
    """``GRANT`` for a separate cdr_pgsql user; the name is checked, then quoted."""
    if not re.fullmatch(r"[A-Za-z0-9_\-.]{1,63}", cdr_user):
        raise ValueError(f"not a plain PostgreSQL role name: {cdr_user!r}")
    return (f'GRANT INSERT ON cdr TO "{cdr_user}";\n'
            f"ALTER ROLE \"{cdr_user}\" SET timezone = 'UTC';\n")


def apply(env: Mapping[str, str]) -> str:
    """Create the table (idempotent) as the dispatcher's database owner; grant the CDR user.

    Returns what was done, for the log of the one-shot migrate service.
    """
    from urllib.parse import unquote, urlsplit

    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from dispatcher.asterisk import values
    from dispatcher.config import load_settings
    from dispatcher.db.engine import make_engine

    if not values.flag(env, "ASTERISK_CDR_PGSQL", True):
        return "ASTERISK_CDR_PGSQL=no: cdr table not created"
    owner_url = load_settings(env).require("database_url").database_url
    cdr_url = (env.get("ASTERISK_CDR_DATABASE_URL") or "").strip()
    owner = unquote(urlsplit(owner_url).username or "")
    cdr_user = unquote(urlsplit(cdr_url).username or "") if cdr_url else owner
    engine = make_engine(owner_url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text(schema_sql()))
        if not cdr_user or cdr_user == owner:
            return "cdr table is ready"
        # A managed database may not let the owner alter another role: say what to run
        # instead of failing the whole deployment over it.
        try:
            with engine.begin() as conn:
                conn.execute(text(grant_sql(cdr_user)))
        except SQLAlchemyError as exc:
            reason = str(exc.orig if hasattr(exc, "orig") else exc).strip().splitlines()[0]
            return (f"cdr table is ready; could not grant {cdr_user} ({reason}). Run as an "
                    f"admin:\n{grant_sql(cdr_user)}")
    finally:
        engine.dispose()
    return f"cdr table is ready; INSERT granted to {cdr_user}"
