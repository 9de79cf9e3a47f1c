"""What the views need, built once per process and kept in ``app.extensions``."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from celery import Celery
from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.config import Settings
from dispatcher.db.engine import make_engine, make_session_factory
from dispatcher.numbers import NumberPolicy
from dispatcher.tasknames import HANGUP_CALL, ORIGINATE_CALL

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    def originate(self, call_id: uuid.UUID) -> None: ...
    def hangup(self, call_id: uuid.UUID) -> None: ...
    def ping(self) -> None: ...


class CeleryPublisher:
    """Send tasks by name through a producer-only Celery app (no task code imported)."""

    def __init__(self, broker_url: str, queue: str) -> None:
        self.queue = queue
        self.app = Celery("dispatcher-web", broker=broker_url, set_as_current=False)
        self.app.conf.update(
            broker_connection_retry_on_startup=False,
            broker_transport_options={"visibility_timeout": 3600},
            task_serializer="json", accept_content=["json"],
        )

    def _send(self, name: str, call_id: uuid.UUID) -> None:
        # Fail fast: the row is committed as queued, and the sweeper republishes it later.
        self.app.send_task(name, args=[str(call_id)], queue=self.queue, retry=True,
                           retry_policy={"max_retries": 2, "interval_start": 0.1,
                                         "interval_step": 0.2, "interval_max": 0.5})

    def originate(self, call_id: uuid.UUID) -> None:
        self._send(ORIGINATE_CALL, call_id)

    def hangup(self, call_id: uuid.UUID) -> None:
        self._send(HANGUP_CALL, call_id)

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


def build_deps(settings: Settings, publisher: Publisher | None) -> Deps:
    engine = make_engine(settings.database_url, pool_size=5, max_overflow=10)
    policy = NumberPolicy(
        default_region=settings.default_region,
        allowed_regions=frozenset(r.strip().upper() for r in settings.allowed_regions.split(",")
                                  if r.strip()),
        dial_template=settings.dial_template,
    )
    return Deps(settings, make_session_factory(engine), policy,
                publisher or CeleryPublisher(settings.redis_url, settings.queue_name))


def deps() -> Deps:
    return current_app.extensions["dispatcher"]  # type: ignore[no-any-return]
