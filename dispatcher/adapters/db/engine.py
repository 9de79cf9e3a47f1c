"""Engine and session factory, built per process (pools must not cross fork())."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
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


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("executemany_mode", "values_plus_batch")
    return create_engine(normalize_url(database_url), **kwargs)


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
def raw_transaction(engine: Engine) -> Iterator[Any]:
    """A psycopg2 cursor on a pooled connection, committed when the block ends.

    For the API's one-statement hot path: a Session's begin, execute and commit cost about
    ten times the INSERT itself on a slow core. The pool still pings the connection at
    checkout, and errors come out as in :func:`raw_cursor` (so an unreachable database is
    the same 503, and a unique violation the same ``IntegrityError``).
    """
    connection = engine.raw_connection()
    dbapi = connection.dbapi_connection
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
        connection.close()


def ping(sessions: Sessions) -> None:
    """Raise unless the database answers a query now."""
    with sessions() as session:
        session.execute(text("SELECT 1"))
