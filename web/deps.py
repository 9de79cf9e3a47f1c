"""What the views need, built once per process and kept in ``app.extensions``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import current_app
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from dispatcher import bootstrap
from dispatcher.adapters.celery_sender import CeleryPublisher, Publisher
from dispatcher.adapters.db.engine import WEB_IDLE_PING_SECONDS, engine_of
from dispatcher.adapters.tasknames import HANGUP_CALL
from dispatcher.adapters.warm_up import warm_up
from dispatcher.config import Settings
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.dial_guard import NumberCap
from web.models.rules import ApiContext


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
    api: ApiContext

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
                       max_overflow=bootstrap.WEB_OVERFLOW,
                       ping_after_idle=WEB_IDLE_PING_SECONDS)
    api = ApiContext(w.policy, w.trunks, settings.default_caller_id,
                     settings.callback_allow_private)
    return Deps(settings, w.sessions, w.policy, publisher, w.trunks, w.admissions, w.redis,
                w.number_cap, api)


def deps() -> Deps:
    return current_app.extensions["dispatcher"]  # type: ignore[no-any-return]
