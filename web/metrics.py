"""``/metrics``: Prometheus text, computed at scrape time from the shared state.

Every figure comes from PostgreSQL or Redis, which all processes share, so any web process
gives the same answer and nothing needs Prometheus' multi-process mode. Scrape it with the
API key as a bearer token (scope ``calls:read``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from web.auth import require_api_key
from web.deps import Deps, deps
from web.trunks import ami_state

bp = Blueprint("metrics", __name__)
bp.before_request(require_api_key)

_LATENCY = text("""
    SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
               ORDER BY extract(epoch FROM dialed_at - created_at))
    FROM calls WHERE dialed_at > now() - interval '5 minutes'""")
_CONSUMER_LAG = text("""
    SELECT percentile_cont(0.99) WITHIN GROUP (
               ORDER BY extract(epoch FROM received_at - event_at)),
           extract(epoch FROM now() - max(received_at))
    FROM call_events WHERE received_at > now() - interval '1 minute'""")


class StateCollector(Collector):
    def __init__(self, d: Deps) -> None:
        self.d = d

    def collect(self) -> Iterator[Metric]:
        yield from self._calls()
        yield from self._trunks()
        yield from self._campaigns()

    def _calls(self) -> Iterator[Metric]:
        calls = GaugeMetricFamily("dispatcher_calls", "Calls by status and outcome",
                                  labels=["status", "outcome"])
        latency = GaugeMetricFamily(
            "dispatcher_originate_latency_seconds",
            "API accepted to Originate accepted by the PBX, calls dialled in the last 5 min",
            labels=["quantile"])
        lag = GaugeMetricFamily("dispatcher_event_consumer_lag_seconds",
                                "p99 AMI event to stored row, last minute")
        with self.d.sessions() as session:
            for status, outcome, count in session.execute(text(
                    "SELECT status, coalesce(outcome, ''), count(*) FROM calls "
                    "GROUP BY 1, 2")):
                calls.add_metric([status, outcome], count)
            quantiles = session.execute(_LATENCY).scalar()
            p99_lag, _ = session.execute(_CONSUMER_LAG).one()
            oldest = session.execute(text(
                "SELECT trunk, extract(epoch FROM now() - min(created_at)) FROM calls "
                "WHERE status = 'queued' GROUP BY trunk")).all()
        for q, value in zip(("0.5", "0.95", "0.99"), quantiles or (), strict=False):
            if value is not None:
                latency.add_metric([q], float(value))
        if p99_lag is not None:
            lag.add_metric([], float(p99_lag))
        waiting_age = GaugeMetricFamily("dispatcher_oldest_waiting_call_seconds",
                                        "Age of the oldest queued call", labels=["trunk"])
        for trunk, age in oldest:
            waiting_age.add_metric([trunk], float(age))
        yield from (calls, latency, lag, waiting_age)

    def _trunks(self) -> Iterator[Metric]:
        lines = GaugeMetricFamily("dispatcher_trunk_lines", "Lines per trunk",
                                  labels=["trunk", "state"])
        waiting = GaugeMetricFamily("dispatcher_trunk_calls_waiting",
                                    "Calls waiting for a line", labels=["trunk"])
        session = GaugeMetricFamily("dispatcher_ami_session_up",
                                    "Event consumer AMI session connected (1) or not (0)",
                                    labels=["trunk"])
        for trunk in self.d.trunks.trunks:
            usage = self.d.admissions.usage(trunk.name)
            lines.add_metric([trunk.name, "total"], trunk.lines)
            lines.add_metric([trunk.name, "in_use"], usage.in_use)
            lines.add_metric([trunk.name, "in_use_by_others"], usage.foreign)
            waiting.add_metric([trunk.name], usage.waiting)
            session.add_metric([trunk.name], 1 if ami_state(trunk.name) == "connected" else 0)
        yield from (lines, waiting, session)


    def _campaigns(self) -> Iterator[Metric]:
        """Campaign counts by status, and contacts by state for campaigns not yet over (the
        label set stays as small as the number of live campaigns)."""
        campaigns = GaugeMetricFamily("dispatcher_campaigns", "Campaigns by status",
                                      labels=["status"])
        contacts = GaugeMetricFamily("dispatcher_campaign_contacts",
                                     "Contacts of running and paused campaigns by state",
                                     labels=["campaign", "name", "state"])
        with self.d.sessions() as session:
            for status, count in session.execute(text(
                    "SELECT status, count(*) FROM campaigns GROUP BY status")):
                campaigns.add_metric([status], count)
            for cid, name, state, count in session.execute(text(
                    "SELECT c.id, c.name, k.state, count(*) FROM campaigns c "
                    "JOIN campaign_contacts k ON k.campaign_id = c.id "
                    "WHERE c.status IN ('running', 'paused') GROUP BY 1, 2, 3")):
                contacts.add_metric([str(cid), name, state], count)
        yield from (campaigns, contacts)


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(deps()))
    body = generate_latest(registry)
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8",
                    headers={"X-Generated-At": datetime.now(tz=UTC).isoformat()})
