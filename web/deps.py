"""What the views need, built once per process and kept in ``app.extensions``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from celery import Celery
from flask import current_app
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from dispatcher import bootstrap
from dispatcher.adapters.db.engine import engine_of
from dispatcher.adapters.redis.broker import share_publish_clients
from dispatcher.adapters.redis.client import broker_transport_options
from dispatcher.adapters.tasknames import HANGUP_CALL
from dispatcher.adapters.warm_up import warm_up
from dispatcher.config import Settings
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.dial_guard import NumberCap


class Publisher(Protocol):
    def send(self, name: str, args: list[str], queue: str,
             countdown: float | None = None) -> None: ...
    def ping(self) -> None: ...


class CeleryPublisher:
    """Send tasks by name through a producer-only Celery app (no task code imported)."""

    def __init__(self, broker_url: str, sentinel_master: str = "mymaster") -> None:
        share_publish_clients()
        self.app = Celery("dispatcher-web", broker=broker_url, set_as_current=False)
        self.app.conf.update(
            broker_connection_retry_on_startup=False,
            broker_transport_options=broker_transport_options(broker_url, sentinel_master),
            task_serializer="json", accept_content=["json"],
        )

    def send(self, name: str, args: list[str], queue: str,
             countdown: float | None = None) -> None:
        # Fail fast: the row is committed as queued, and the sweeper re-enqueues it later.
        self.app.send_task(name, args=args, queue=queue, countdown=countdown, retry=True,
                           retry_policy={"max_retries": 2, "interval_start": 0.1,
                                         "interval_step": 0.2, "interval_max": 0.5})

    def warm_up(self) -> None:
        """Load the broker transport and open a producer connection now, not on the first
        call: otherwise each new web process adds ~150 ms to its first accepted call."""
        with self.app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1, timeout=2)
            producer.channel  # noqa: B018 - opening the channel is the point

    def ping(self) -> None:
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            conn.default_channel.client.ping()


@dataclass
class Deps:
    settings: Settings
    sessions: sessionmaker[Session]
    policy: NumberPolicy
    publisher: Publisher
    trunks: TrunkTable
    admissions: Admissions
    redis: Redis
    number_cap: NumberCap

    def warm_up(self) -> None:
        """Best effort, at process start: connect to PostgreSQL, Redis and the broker so the
        first requests do not pay for it. Anything down now is simply connected later."""
        steps = [("database", lambda: engine_of(self.sessions).connect().close()),
                 ("redis", self.redis.ping), ("line scripts", self.admissions.load_scripts)]
        if hasattr(self.publisher, "warm_up"):
            steps.append(("broker", self.publisher.warm_up))
        warm_up(steps)

    def hangup(self, call_id: uuid.UUID, trunk: str) -> None:
        self.publisher.send(HANGUP_CALL, [str(call_id)], self.trunks.get(trunk).queue)


def build_deps(settings: Settings, publisher: Publisher | None) -> Deps:
    publisher = publisher or CeleryPublisher(settings.redis_url, settings.redis_sentinel_master)
    w = bootstrap.wire(settings, publisher, pool_size=bootstrap.WEB_POOL,
                       max_overflow=bootstrap.WEB_OVERFLOW)
    return Deps(settings, w.sessions, w.policy, publisher, w.trunks, w.admissions, w.redis,
                w.number_cap)


def deps() -> Deps:
    return current_app.extensions["dispatcher"]  # type: ignore[no-any-return]
