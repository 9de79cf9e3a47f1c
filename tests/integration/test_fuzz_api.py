"""Fuzz the whole HTTP API from its own ``/openapi.json`` (schemathesis, in-process WSGI).

Every documented operation gets generated examples, valid and invalid, against the real app on
a fresh PostgreSQL database (one for this module), the real Redis broker and the simulated PBX.
Checks are schemathesis' defaults: no 5xx, only documented status codes and content types, JSON
bodies that match the documented schemas, invalid input refused with a 4xx, a 401 without the
key, ``Allow`` on a 405.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from sqlalchemy import text

from dispatcher.adapters.db.engine import make_engine, make_session_factory
from dispatcher.config import Settings
from dispatcher.devstack.embedded import EmbeddedPostgres
from dispatcher.usecases import api_keys
from pbxsim import PBXSimulator, SimConfig
from tests.support.databases import clone as _clone
from web import create_app, openapi

# The key the generated requests carry, made before collection (schemathesis builds some
# examples then); the module's database gets an API key row with its hash.
TOKEN = "dsp_fuzz_" + secrets.token_urlsafe(24)


def _published_spec() -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves, from the app's own blueprint (collection
    happens before any database or Redis exists)."""
    app = Flask(__name__)
    app.register_blueprint(openapi.bp)
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.get_json()
    return spec


# Schema-valid input the API may still refuse for reasons JSON Schema cannot state: a string of
# digits that is not a valid (or allowed) phone number, a time zone offset out of range, a cursor
# that was not issued by us. Those answers must still be the documented 400/422 error bodies.
_SEMANTIC = {"checks": {"positive_data_acceptance": {"expected-statuses": [
    "2xx", "400", "401", "404", "409", "422"]},
    # schemathesis' own list of refusals, and 413: what it generated may be longer than the
    # body limit (64 KiB), which is refused before it is read.
    "negative_data_rejection": {"expected-statuses": [
        "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429",
        "5xx"]}}}
CONFIG = SchemathesisConfig.from_dict({
    # As configured auth (not a plain header) so that negative cases dropping it really do.
    "auth": {"openapi": {"bearer": {"bearer": TOKEN}}},
    "operations": [{"include-path-regex": "^/v1/", **_SEMANTIC}],
})
# Contact uploads in JSON lines are text: send the generated strings as they are.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schema = schemathesis.openapi.from_dict(_published_spec(), config=CONFIG)


@pytest.fixture(scope="module")
def fuzz_app(postgres: EmbeddedPostgres, migrated_template: str,
             redis_url: str) -> Iterator[Flask]:
    """The real app on a fresh database; AMI is the simulator, so ``/readyz`` can be ready."""
    simulator = PBXSimulator(SimConfig(users={"dispatcher": "secret"}))
    simulator.start()
    database_url = _clone(postgres, migrated_template)
    engine = make_engine(database_url)
    key, _ = api_keys.create_api_key(make_session_factory(engine), "fuzz")
    with engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET key_hash = :h WHERE id = :id"),
                     {"h": api_keys.hash_api_key(TOKEN), "id": key.id})
    engine.dispose()
    tag = uuid.uuid4().hex[:8]
    app = create_app(Settings(
        database_url=database_url, redis_url=redis_url, ami_host="127.0.0.1",
        ami_port=simulator.port, ami_secret="secret", queue_name=f"q-{tag}",
        trunk_name=f"trunk-{tag}"))
    yield app
    app.extensions["dispatcher"].sessions.kw["bind"].dispose()
    simulator.stop()


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_every_operation_conforms_to_its_schema(case: Any, fuzz_app: Flask) -> None:
    # Checks that send requests of their own (the no-auth probe) use the schema's app.
    case.operation.schema.app = fuzz_app
    case.call_and_validate(app=fuzz_app)
