"""The event consumer's own Prometheus metrics, served on ``DISPATCHER_CONSUMER_METRICS_PORT``.

The web app's ``/metrics`` reports what is in PostgreSQL and Redis; these say how the consumer
itself is doing (events read, events held while the database is away, AMI reconnects), which
only the process knows. Celery workers' task metrics come from Flower's ``/metrics``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

EVENTS_READ = Counter("dispatcher_consumer_events_read", "AMI events read from the PBX")
EVENTS_HELD = Gauge("dispatcher_consumer_events_held",
                    "Events read but not yet written (database slow or away)")
AMI_CONNECTED = Gauge("dispatcher_consumer_ami_connected", "1 while the AMI session is up")
RECONNECTS = Counter("dispatcher_consumer_ami_sessions", "AMI sessions opened")
UNRESOLVED = Counter("dispatcher_consumer_calls_marked_unresolved",
                     "Calls reconciliation could not settle from any evidence")


def serve(port: int) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")
