"""The ``cdr`` table Asterisk's ``cdr_pgsql`` writes and reconciliation reads.

Asterisk's documented ``cdr_pgsql`` table plus the ``answer`` and ``end`` columns, which
cdr_pgsql fills when present (as epoch seconds with microseconds when the column is a float:
``calldate`` and a time column get whole seconds), and ``hangupcause``, which it fills from a
``CDR(hangupcause)`` variable (see asterisk-conf). Our migrations do not own it (it is
Asterisk's schema): ``dispatcher asterisk cdr-table`` creates it, and the simulated PBX writes
into the same one. :func:`cdr_from_pgsql` is how reconciliation reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dispatcher.domain.events import CdrEvidence

SCHEMA = """
CREATE TABLE IF NOT EXISTS cdr (
    calldate timestamptz NOT NULL DEFAULT now(),
    clid varchar(80) NOT NULL DEFAULT '',
    src varchar(80) NOT NULL DEFAULT '',
    dst varchar(80) NOT NULL DEFAULT '',
    dcontext varchar(80) NOT NULL DEFAULT '',
    channel varchar(80) NOT NULL DEFAULT '',
    dstchannel varchar(80) NOT NULL DEFAULT '',
    lastapp varchar(80) NOT NULL DEFAULT '',
    lastdata varchar(80) NOT NULL DEFAULT '',
    answer double precision,
    "end" double precision,
    duration bigint NOT NULL DEFAULT 0,
    billsec bigint NOT NULL DEFAULT 0,
    disposition varchar(45) NOT NULL DEFAULT '',
    amaflags bigint NOT NULL DEFAULT 0,
    accountcode varchar(20) NOT NULL DEFAULT '',
    uniqueid varchar(150) NOT NULL DEFAULT '',
    userfield varchar(255) NOT NULL DEFAULT '',
    hangupcause integer
);
CREATE INDEX IF NOT EXISTS cdr_uniqueid ON cdr (uniqueid);
"""


# A cdr table made earlier from Asterisk's stock schema lacks the columns reconciliation
# prefers; cdr_pgsql fills them as soon as they exist. "answer" and "end" are floats (epoch
# seconds): cdr_pgsql writes a float column to the microsecond, a time column to the whole
# second. One made by an earlier version has them as timestamptz: converted in place (Asterisk
# reads the column types when cdr_pgsql loads: `module reload cdr_pgsql` after this).
UPGRADE = """
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
    return SCHEMA.strip() + "\n" + UPGRADE.lstrip()


def create_table(database_url: str,
                 grants: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Create (or upgrade) the table as the database's owner, then run each grant, given as
    (step, SQL), in a transaction of its own: one failing must not roll back the others.
    Returns a line per step ("done: ..." or "FAILED: ... (why)") and the SQL that failed."""
    from dispatcher.adapters.db.engine import make_engine

    engine = make_engine(database_url, pool_size=1)
    lines: list[str] = []
    failed: list[str] = []
    try:
        with engine.begin() as conn:
            conn.execute(text(schema_sql()))
        lines.append("cdr table is ready")
        for step, sql in grants:
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
    return lines, failed


def cdr_from_pgsql(session: Session, attempt_id: uuid.UUID) -> CdrEvidence | None:
    """Read the CDR Asterisk wrote itself with ``cdr_pgsql`` (table ``cdr``), if present.

    It is the one record of a call's end that does not depend on our AMI session being up.
    The optional ``answer`` and ``end`` columns give exact times; without them they are
    derived from ``calldate``, ``duration`` and ``billsec`` (whole seconds).
    """
    if session.execute(text("SELECT to_regclass('cdr')")).scalar() is None:
        return None
    found = session.execute(
        text("SELECT * FROM cdr WHERE uniqueid = :u ORDER BY calldate DESC LIMIT 1"),
        {"u": str(attempt_id)},
    ).mappings().first()
    if found is None:
        return None
    start = _aware(found["calldate"])
    ended = _aware(found.get("end")) or start + timedelta(seconds=int(found["duration"] or 0))
    answered = _aware(found.get("answer"))  # 0 (the epoch) for a call never answered
    if answered is None and found["billsec"]:
        answered = ended - timedelta(seconds=int(found["billsec"]))
    cause = found.get("hangupcause")
    return CdrEvidence(str(found["disposition"]), answered, ended,
                       int(cause) if cause not in (None, "") else None)


def _aware(value: datetime | float | None) -> datetime | None:
    """A CDR time: epoch seconds (a float column, to the microsecond) or a timestamp."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC) if value > 0 else None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
