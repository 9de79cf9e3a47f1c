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

from dispatcher.usecases.state_figures import StateFigures, state_figures
from web.auth import require_api_key
from web.deps import deps

bp = Blueprint("metrics", __name__)
bp.before_request(require_api_key)


class StateCollector(Collector):
    def __init__(self, figures: StateFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        yield from self._calls()
        yield from self._trunks()
        yield from self._campaigns()

    def _calls(self) -> Iterator[Metric]:
        f = self.figures
        calls = GaugeMetricFamily("dispatcher_calls", "Calls by status and outcome",
                                  labels=["status", "outcome"])
        for status, outcome, count in f.calls:
            calls.add_metric([status, outcome], count)
        latency = GaugeMetricFamily(
            "dispatcher_originate_latency_seconds",
            "API accepted to Originate accepted by the PBX, calls dialled in the last 5 min",
            labels=["quantile"])
        for q, value in zip(("0.5", "0.95", "0.99"), f.originate_latency, strict=False):
            if value is not None:
                latency.add_metric([q], float(value))
        lag = GaugeMetricFamily("dispatcher_event_consumer_lag_seconds",
                                "p99 AMI event to stored row, last minute")
        if f.consumer_lag_p99 is not None:
            lag.add_metric([], f.consumer_lag_p99)
        waiting_age = GaugeMetricFamily("dispatcher_oldest_waiting_call_seconds",
                                        "Age of the oldest queued call", labels=["trunk"])
        for r in f.lines:
            if r.oldest_waiting_seconds is not None:
                waiting_age.add_metric([r.trunk.name], r.oldest_waiting_seconds)
        yield from (calls, latency, lag, waiting_age)

    def _trunks(self) -> Iterator[Metric]:
        lines = GaugeMetricFamily("dispatcher_trunk_lines", "Lines per trunk",
                                  labels=["trunk", "state"])
        waiting = GaugeMetricFamily("dispatcher_trunk_calls_waiting",
                                    "Calls waiting for a line", labels=["trunk"])
        session = GaugeMetricFamily("dispatcher_ami_session_up",
                                    "Event consumer AMI session connected (1) or not (0)",
                                    labels=["trunk"])
        for r in self.figures.lines:
            name = r.trunk.name
            lines.add_metric([name, "total"], r.trunk.lines)
            lines.add_metric([name, "in_use"], r.usage.in_use)
            lines.add_metric([name, "in_use_by_others"], r.usage.foreign)
            waiting.add_metric([name], r.usage.waiting)
            session.add_metric([name], 1 if r.ami == "connected" else 0)
        yield from (lines, waiting, session)

    def _campaigns(self) -> Iterator[Metric]:
        """Campaign counts by status, and contacts by state for campaigns not yet over (the
        label set stays as small as the number of live campaigns)."""
        campaigns = GaugeMetricFamily("dispatcher_campaigns", "Campaigns by status",
                                      labels=["status"])
        for status, count in self.figures.campaigns:
            campaigns.add_metric([status], count)
        contacts = GaugeMetricFamily("dispatcher_campaign_contacts",
                                     "Contacts of running and paused campaigns by state",
                                     labels=["campaign", "name", "state"])
        for cid, name, state, count in self.figures.live_contacts:
            contacts.add_metric([cid, name, state], count)
        yield from (campaigns, contacts)


@bp.get("/metrics")
def metrics() -> Response:
    d = deps()
    now = datetime.now(tz=UTC)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(state_figures(d.sessions, d.admissions, d.trunks, now)))
    body = generate_latest(registry)
    return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8",
                    headers={"X-Generated-At": now.isoformat()})
