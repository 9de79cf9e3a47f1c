"""The API's insert path runs on a raw pooled connection; it must fail like a Session does."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.engine import (
    CONNECTION_DEFAULTS,
    engine_of,
    make_engine,
    raw_transaction,
)


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


def _backend_pid(engine: Engine) -> int:
    with raw_transaction(engine) as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return int(pid)


def _terminate(sessions: sessionmaker[Session], *pids: int) -> None:
    with sessions() as other:
        for pid in pids:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def test_the_webs_pool_checks_a_connection_that_sat_idle(
        database_url: str, sessions: sessionmaker[Session]) -> None:
    engine = make_engine(database_url, pool_size=1, max_overflow=0, ping_after_idle=0.0)
    try:
        pid = _backend_pid(engine)
        _terminate(sessions, pid)
        assert _backend_pid(engine) != pid  # checked, found gone, replaced: no error
    finally:
        engine.dispose()


def test_the_webs_pool_hands_out_a_connection_in_steady_use_unchecked(
        database_url: str, sessions: sessionmaker[Session]) -> None:
    """The price of not pinging on every request: one request meets the dead connection and
    answers 503; the pool replaces it for the next."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0, ping_after_idle=3600.0)
    try:
        pid = _backend_pid(engine)
        _terminate(sessions, pid)
        with pytest.raises(OperationalError) as lost, raw_transaction(engine) as cursor:
            cursor.execute("SELECT 1")
        assert lost.value.connection_invalidated
        assert _backend_pid(engine) != pid
    finally:
        engine.dispose()


def test_once_one_connection_is_found_lost_the_others_are_checked(
        database_url: str, sessions: sessionmaker[Session]) -> None:
    """A database restart kills every pooled connection: only the first request to find out
    fails, not one per pooled connection."""
    engine = make_engine(database_url, pool_size=2, max_overflow=0, ping_after_idle=3600.0)
    try:
        with raw_transaction(engine) as first, raw_transaction(engine) as second:
            first.execute("SELECT pg_backend_pid()")
            second.execute("SELECT pg_backend_pid()")
            pids = (first.fetchone()[0], second.fetchone()[0])
        _terminate(sessions, *pids)
        with pytest.raises(OperationalError), raw_transaction(engine) as cursor:
            cursor.execute("SELECT 1")
        assert _backend_pid(engine) not in pids
        assert _backend_pid(engine) not in pids
    finally:
        engine.dispose()


def test_a_single_statement_commits_on_its_own_and_leaves_the_connection_transactional(
        database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        with raw_transaction(engine) as cursor:
            cursor.execute("CREATE TABLE one (k int PRIMARY KEY)")
        with raw_transaction(engine, one_statement=True) as cursor:
            cursor.execute("INSERT INTO one VALUES (1), (2)")
        with pytest.raises(IntegrityError), raw_transaction(engine, one_statement=True) as c:
            c.execute("INSERT INTO one VALUES (3), (1)")  # all of it or nothing
        with pytest.raises(IntegrityError), raw_transaction(engine) as cursor:
            cursor.execute("INSERT INTO one VALUES (4)")
            cursor.execute("INSERT INTO one VALUES (1)")  # the same pooled connection
        with raw_transaction(engine) as cursor:
            cursor.execute("SELECT array_agg(k ORDER BY k) FROM one")
            assert cursor.fetchone() == ([1, 2],)
    finally:
        engine.dispose()


def test_connections_give_up_on_a_silent_database_instead_of_hanging(
        database_url: str) -> None:
    """libpq waits forever by default, to connect and on a connection whose peer vanished:
    every engine sets a connect timeout and TCP keepalives, and the URL may override them."""
    engine = make_engine(database_url, pool_size=1)
    override = make_engine(f"{database_url}{'&' if '?' in database_url else '?'}"
                           "connect_timeout=3", pool_size=1)
    try:
        with engine.connect() as connection:
            params = connection.connection.dbapi_connection.get_dsn_parameters()
        assert (params["connect_timeout"], params["keepalives"]) == ("10", "1")
        assert params["keepalives_idle"] == "30" and params["tcp_user_timeout"] == "60000"
        with override.connect() as connection:
            params = connection.connection.dbapi_connection.get_dsn_parameters()
        assert params["connect_timeout"] == "3"
    finally:
        engine.dispose()
        override.dispose()


def test_a_database_that_accepts_but_never_answers_fails_the_connect(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's own default bounds the wait (shortened here from 10 s to keep the test
    quick); without it libpq would wait forever."""
    monkeypatch.setitem(CONNECTION_DEFAULTS, "connect_timeout", 2)
    silent = socket.create_server(("127.0.0.1", 0))  # the handshake completes, then nothing
    try:
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql://nobody@127.0.0.1:{port}/none", pool_size=1)
        with pytest.raises(OperationalError, match="timeout expired"), engine.connect():
            pass
    finally:
        silent.close()
