"""Where a single ``POST /v1/calls`` spends its CPU, in-process: the whole request through
Flask's test client, and each step of it alone (validation, the insert, putting the call in
line, the JSON answer), so a change to one step can be measured against the others.

Starts embedded PostgreSQL and Redis; no gunicorn, no network client. Prints figures; asserts
nothing. ``--calls`` bounds every loop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from dispatcher.adapters.db.calls import insert_new_calls
from dispatcher.adapters.db.engine import make_engine, raw_transaction
from dispatcher.adapters.db.migrate import upgrade
from dispatcher.adapters.db.tables import CallRow
from dispatcher.config import Settings
from dispatcher.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from dispatcher.domain.new_calls import NewCall
from dispatcher.usecases import api_keys, submit_call
from web import create_app
from web.deps import Deps
from web.models.calls import CallBody
from web.models.refusals import validated
from web.serialize import call_json


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_per_call(label: str, calls: int, step: Callable[[int], object]) -> float:
    """CPU seconds of this process per call of ``step`` (process time: what the two cores
    pay, not how long a client waits)."""
    for i in range(min(200, calls)):  # warm caches, pools and the statement cache
        step(i)
    start = time.process_time()
    for i in range(calls):
        step(calls + i)
    per_call = (time.process_time() - start) / calls * 1000
    print(f"  {label:<44} {per_call:7.3f} ms CPU per call")
    return per_call


def number(i: int) -> str:
    return f"+98912{i // 1000 % 1000:03d}{i % 1000:04d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="dispatcher-submit-cost-"))
    postgres, redis = EmbeddedPostgres(root, database="bench"), EmbeddedRedis(root)
    url, redis_url = postgres.start(), redis.start()
    try:
        upgrade(url)
        settings = Settings(database_url=url, redis_url=redis_url, ami_port=1,
                            ami_secret="bench", trunk_lines=30)
        app = create_app(settings)
        d: Deps = app.extensions["dispatcher"]
        key = api_keys.create_api_key(d.sessions, "bench")[1]
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}"}
        print(f"CPU: {cpu_model()}; load average at start "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"single-call submit, {args.calls} calls per line below:")

        def whole(i: int) -> object:
            response = client.post("/v1/calls", json={"to": number(i)}, headers=headers)
            assert response.status_code == 202, response.get_data(as_text=True)
            return response

        def hello(i: int) -> object:
            return client.get("/healthz")

        cpu_per_call("whole request (Flask test client)", args.calls, whole)
        cpu_per_call("calibration: GET /healthz (no work)", args.calls, hello)
        body = json.dumps({"to": number(1)})
        cpu_per_call("parse the JSON body", args.calls, lambda i: json.loads(body))
        cpu_per_call("validate with the model (number rules)", args.calls,
                     lambda i: validated(CallBody, {"to": number(i)}, d.api))
        requests = [validated(CallBody, {"to": number(i)}, d.api).call_request(d.api)
                    for i in range(2 * args.calls + 400)]
        calls: list[CallRow | NewCall] = []
        cpu_per_call("store the row (one INSERT, autocommit)", args.calls,
                     lambda i: calls.append(submit_call.submit_call(
                         d.sessions, requests[i], None, None).call))
        pinging = make_engine(url, pool_size=1)

        def old_store(i: int) -> None:
            """The insert as it was before: in a transaction, the pool pinging at checkout."""
            call = NewCall.from_request(uuid.uuid4(), requests[i], None, None, None,
                                        datetime.now(tz=UTC))
            with raw_transaction(pinging) as cursor:
                insert_new_calls(cursor, [call])

        cpu_per_call("  before: BEGIN, INSERT, COMMIT, ping", args.calls, old_store)
        cpu_per_call("put in line (Redis admission script)", args.calls,
                     lambda i: submit_call.enqueue(d.admissions, [calls[i % len(calls)]]))
        cpu_per_call("answer: call_json + json.dumps", args.calls,
                     lambda i: json.dumps(call_json(calls[i % len(calls)])))
        print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        redis.stop()
        postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
