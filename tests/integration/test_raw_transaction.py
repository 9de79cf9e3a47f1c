"""The API's insert path runs on a raw pooled connection; it must fail like a Session does."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.engine import engine_of, make_engine, raw_transaction


def test_a_refused_statement_is_rolled_back_and_raised_as_sqlalchemy_error(
        sessions: sessionmaker[Session]) -> None:
    engine = engine_of(sessions)
    with raw_transaction(engine) as cursor:
        cursor.execute("CREATE TABLE t (k int PRIMARY KEY)")
        cursor.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(IntegrityError), raw_transaction(engine) as cursor:
        cursor.execute("INSERT INTO t VALUES (2)")
        cursor.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(DBAPIError), raw_transaction(engine) as cursor:
        cursor.execute("SELECT 1 / 0")
    with raw_transaction(engine) as cursor:  # the pooled connection is clean again
        cursor.execute("SELECT array_agg(k) FROM t")
        assert cursor.fetchone() == ([1],)


def test_a_connection_the_server_dropped_is_replaced_not_reused(
        database_url: str, sessions: sessionmaker[Session]) -> None:
    """After a database restart every pooled connection is dead; the request that finds one
    gets a 503-class error, and the next request gets a fresh connection."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    try:
        with raw_transaction(engine) as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        with sessions() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError) as lost, raw_transaction(engine) as cursor:
            cursor.execute("SELECT 1")
        assert lost.value.connection_invalidated
        with raw_transaction(engine) as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone() != (pid,)
    finally:
        engine.dispose()
