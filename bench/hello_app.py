"""The calibration for the API ingest figures: a Flask app whose only route parses a JSON body
and answers 202 with a two-key JSON object, run under the same gunicorn and load generator as
the real API. What it costs per request is what any Flask handler pays on this machine before
doing any work (``gunicorn bench.hello_app:app``)."""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

app = Flask(__name__)


@app.post("/v1/calls")
def accept() -> ResponseReturnValue:
    body = request.get_json()
    return jsonify(id="00000000-0000-0000-0000-000000000000", to=body.get("to")), 202


@app.get("/healthz")
def alive() -> ResponseReturnValue:
    return jsonify(status="ok")
