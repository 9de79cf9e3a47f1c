"""Engine and session factory, built per process (pools must not cross fork())."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

Sessions = sessionmaker[Session]
"""What use cases take to open database sessions (one factory per process)."""


def normalize_url(database_url: str) -> str:
    """Accept the ``postgres://`` and ``postgresql://`` forms managed providers hand out."""
    url = database_url
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


#: The web's pooled connections are checked before use only after this long unused: a busy
#: API process would otherwise pay a ``SELECT 1`` round trip on every request.
WEB_IDLE_PING_SECONDS = 10.0


#: libpq's defaults wait forever: to connect (a managed database behind a dropped route
#: swallows the SYN) and on an established connection whose peer vanished (no keepalives, so
#: a consumer mid-write would hang with its events unwritten). These bound both; a parameter
#: in ``DATABASE_URL`` (``?connect_timeout=30``) wins over its default here.
CONNECTION_DEFAULTS: dict[str, int] = {
    "connect_timeout": 10,  # seconds, the whole connection set-up
    "keepalives": 1,
    "keepalives_idle": 30,  # seconds of silence before the first probe
    "keepalives_interval": 10,
    "keepalives_count": 3,  # a silent peer is declared gone after about a minute
    "tcp_user_timeout": 60_000,  # ms: sent data unacknowledged this long fails the socket
}


def make_engine(database_url: str, *, ping_after_idle: float | None = None,
                **kwargs: Any) -> Engine:
    """``ping_after_idle`` None: every checkout pings (SQLAlchemy's ``pool_pre_ping``), for
    the workers and the consumer. A number: only a connection unused that long, or one older
    than the last connection found lost (:func:`_ping_when_stale`)."""
    url = make_url(normalize_url(database_url))
    kwargs.setdefault("pool_pre_ping", ping_after_idle is None)
    kwargs.setdefault("executemany_mode", "values_plus_batch")
    kwargs["connect_args"] = {**{k: v for k, v in CONNECTION_DEFAULTS.items()
                                 if k not in url.query}, **kwargs.get("connect_args", {})}
    engine = create_engine(url, **kwargs)
    if ping_after_idle is not None and not kwargs["pool_pre_ping"]:
        _ping_when_stale(engine, ping_after_idle)
    return engine


def _ping_when_stale(engine: Engine, idle: float) -> None:
    """Check a pooled connection before use when it may have gone away unnoticed: it sat
    unused for ``idle`` seconds (a proxy or firewall may have dropped it), or a connection of
    this pool has been found lost since it was last used (the database restarted: every
    pooled connection is dead, and the first to fail says so). A connection in steady use is
    handed out unchecked; if the server dropped it in the last ``idle`` seconds without any
    other connection noticing, the one request using it answers 503 and the pool replaces
    it."""
    lost_at = [0.0]

    @event.listens_for(engine, "connect")
    def _fresh(dbapi_connection: Any, record: Any) -> None:
        record.info["used_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["used_at"] = time.monotonic()

    @event.listens_for(engine, "invalidate")
    def _lost(dbapi_connection: Any, record: Any, exception: BaseException | None) -> None:
        lost_at[0] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        used_at = record.info.get("used_at", 0.0)
        if time.monotonic() - used_at < idle and used_at > lost_at[0]:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except psycopg2.Error as exc:
            lost_at[0] = time.monotonic()
            raise DisconnectionError("the pooled connection is gone") from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    engine = sessions.kw["bind"]
    assert isinstance(engine, Engine)
    return engine


def _translated(exc: psycopg2.Error, dialect: Any, dbapi: Any, cursor: Any,
                invalidate: Any) -> DBAPIError:
    lost = dialect.is_disconnect(exc, dbapi, cursor)
    if lost:
        invalidate(exc)
    return DBAPIError.instance(None, None, exc, psycopg2.Error, connection_invalidated=lost)


@contextmanager
def raw_cursor(session: Session) -> Iterator[Any]:
    """A psycopg2 cursor inside the session's transaction, for the hot paths that skip
    SQLAlchemy's statement machinery (``execute_values``, array parameters).

    Errors come out as SQLAlchemy's ``DBAPIError`` subclasses, as they would through the
    session, and a lost connection is invalidated: callers that retry on ``DBAPIError`` (the
    event writer, on a deadlock or an outage) then see one kind of error whichever way a
    statement was sent.
    """
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        yield cursor
    except psycopg2.Error as exc:
        raise _translated(exc, connection.dialect, dbapi, cursor,
                          connection.invalidate) from exc
    finally:
        if not cursor.closed:
            cursor.close()


@contextmanager
def raw_transaction(engine: Engine, *, one_statement: bool = False) -> Iterator[Any]:
    """A psycopg2 cursor on a pooled connection, committed when the block ends.

    For the API's one-statement hot path: a Session's begin, execute and commit cost about
    ten times the INSERT itself on a slow core. Errors come out as in :func:`raw_cursor` (so
    an unreachable database is the same 503, and a unique violation the same
    ``IntegrityError``).

    ``one_statement``: the block runs exactly one statement, which PostgreSQL runs atomically
    on its own, so it is sent in autocommit: one round trip instead of three (psycopg2 sends
    ``BEGIN`` and ``COMMIT`` apart from the statement).
    """
    connection = engine.raw_connection()
    dbapi = connection.dbapi_connection
    assert dbapi is not None
    if one_statement:
        dbapi.autocommit = True
    cursor = connection.cursor()
    try:
        yield cursor
        connection.commit()
    except psycopg2.Error as exc:
        error = _translated(exc, engine.dialect, dbapi, cursor, connection.invalidate)
        if not error.connection_invalidated:
            connection.rollback()
        raise error from exc
    except BaseException:
        connection.rollback()
        raise
    finally:
        if not cursor.closed:
            cursor.close()
        if one_statement and not dbapi.closed:
            dbapi.autocommit = False
        connection.close()


def ping(sessions: Sessions) -> None:
    """Raise unless the database answers a query now."""
    with sessions() as session:
        session.execute(text("SELECT 1"))
