"""The ``cdr`` table Asterisk's ``cdr_pgsql`` writes and the consumer's reconciliation reads.

``cdr_pgsql`` inserts only into a table that already exists, and our migrations don't own it
(it is Asterisk's schema), so it is created here, from the same definition the simulated PBX
uses (:data:`dispatcher.adapters.db.cdr_schema.SCHEMA`). When Asterisk logs in as its own user, that
user gets INSERT on ``cdr`` and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A cdr table made earlier from Asterisk's stock schema lacks the columns reconciliation
# prefers; cdr_pgsql fills them as soon as they exist. "answer" and "end" are floats (epoch
# seconds): cdr_pgsql writes a float column to the microsecond, a time column to the whole
# second. One made by an earlier version has them as timestamptz: converted in place (Asterisk
# reads the column types when cdr_pgsql loads: `module reload cdr_pgsql` after this).
_UPGRADE = """
ALTER TABLE cdr ADD COLUMN IF NOT EXISTS answer double precision;
ALTER TABLE cdr ADD COLUMN IF NOT EXISTS "end" double precision;
ALTER TABLE cdr ADD COLUMN IF NOT EXISTS hangupcause integer;
DO $$ BEGIN
  IF (SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema()
      AND table_name = 'cdr' AND column_name = 'answer') <> 'double precision' THEN
    ALTER TABLE cdr ALTER COLUMN answer TYPE double precision USING extract(epoch FROM answer);
  END IF;
  IF (SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema()
      AND table_name = 'cdr' AND column_name = 'end') <> 'double precision' THEN
    ALTER TABLE cdr ALTER COLUMN "end" TYPE double precision USING extract(epoch FROM "end");
  END IF;
END $$;
"""


def schema_sql() -> str:
    from dispatcher.adapters.db.cdr_schema import SCHEMA

    return SCHEMA.strip() + "\n" + _UPGRADE.lstrip()


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

    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from dispatcher.adapters.db.engine import make_engine
    from dispatcher.asterisk import values
    from dispatcher.config import load_settings

    if not values.flag(env, "ASTERISK_CDR_PGSQL", True):
        return "ASTERISK_CDR_PGSQL=no: cdr table not created"
    owner_url = load_settings(env).require("database_url").database_url
    cdr_url = (env.get("ASTERISK_CDR_DATABASE_URL") or "").strip()
    owner = unquote(urlsplit(owner_url).username or "")
    cdr_user = unquote(urlsplit(cdr_url).username or "") if cdr_url else owner
    engine = make_engine(owner_url, pool_size=1)
    lines: list[str] = []
    failed: list[str] = []
    try:
        with engine.begin() as conn:
            conn.execute(text(schema_sql()))
        lines.append("cdr table is ready")
        if not cdr_user or cdr_user == owner:
            return lines[0]
        for step, sql in grant_statements(cdr_user):
            try:
                with engine.begin() as conn:
                    conn.execute(text(sql))
                lines.append(f"done: {step}")
            except SQLAlchemyError as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                lines.append(f"FAILED: {step} ({reason})")
                failed.append(sql)
    finally:
        engine.dispose()
    if failed:
        lines.append("Run as an admin:\n" + "\n".join(failed))
    return "\n".join(lines)
