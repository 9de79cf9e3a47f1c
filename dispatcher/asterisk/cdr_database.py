"""Where ``cdr_pgsql`` writes each call's CDR, checked before it reaches ``cdr_pgsql.conf``.

The event consumer settles calls that ended while it was away from these rows, so a URL that
cdr_pgsql cannot use (no password, a name that would break the config file) must stop the
render, not surface as missing CDRs weeks later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from dispatcher.asterisk import values as v
from dispatcher.asterisk.values import ConfError


@dataclass(frozen=True)
class CdrDatabase:
    """Where ``cdr_pgsql`` writes: the dispatcher's PostgreSQL, ideally as an insert-only user."""

    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)


def cdr_database(env: Mapping[str, str], database_url: str) -> CdrDatabase | None:
    if not v.flag(env, "ASTERISK_CDR_PGSQL", True):
        return None
    url = v.text(env, "ASTERISK_CDR_DATABASE_URL") or database_url
    if not url:
        raise ConfError("missing required setting ASTERISK_CDR_DATABASE_URL (or DATABASE_URL): "
                        "cdr_pgsql writes the CDRs the event consumer reconciles from; set "
                        "ASTERISK_CDR_PGSQL=no to run without them")
    v.refuse_structural("ASTERISK_CDR_DATABASE_URL (or DATABASE_URL)", url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parses the port, raising on a bad one
    except ValueError:
        parts = urlsplit("")
    if not parts.scheme.startswith("postgres") or not parts.hostname or not parts.username:
        raise ConfError("the CDR database URL must look like "
                        "postgresql://user:password@host:5432/dbname")
    password = unquote(parts.password or "")
    if not password:
        raise ConfError("missing required secret: the CDR database URL has no password")
    checked = v.secret({"CDR database password": password}, "CDR database password",
                       "cdr_pgsql logs in with it", min_length=8)
    dbname = unquote(parts.path.lstrip("/"))
    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,63}", dbname):
        raise ConfError(f"the CDR database name must be 1-63 letters, digits, '_' or '-', "
                        f"got {dbname!r}")
    user = unquote(parts.username)
    if not re.fullmatch(r"[A-Za-z0-9_\-.]{1,63}", user):
        raise ConfError(f"the CDR database user name is not plain, got {user!r}")
    return CdrDatabase(host=v.host("CDR database host", parts.hostname),
                       port=parts.port or 5432, dbname=dbname, user=user, password=checked)
