"""The composition root: how every process builds what it runs on, from the one settings object.

The web API, the Celery workers and beat, the event consumer and the command line all need the
same few things: a database session factory, a Redis client, the trunk table, the admission to
trunks' lines, the number policy and the per-number cap. Built here, and only here, they are
built alike everywhere (the same pool sizes for the same kind of process, the same admission
settings), and an entry point only says which of them it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.engine import make_engine, make_session_factory
from dispatcher.adapters.redis.capacity import TrunkCapacity
from dispatcher.adapters.redis.client import redis_from_url
from dispatcher.config import Settings
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import TrunkTable, load_trunks
from dispatcher.usecases.admission import Admissions, TaskSender
from dispatcher.usecases.dial_guard import NumberCap

#: Connections per process: a gunicorn worker serves requests one at a time but keeps a spare
#: for the readiness probe and outages; a Celery pool child and the consumer need one or two.
WEB_POOL, WEB_OVERFLOW = 5, 10
PROCESS_POOL = 2


def database(settings: Settings, pool_size: int = PROCESS_POOL, max_overflow: int = 0, *,
             ping_after_idle: float | None = None) -> sessionmaker[Session]:
    return make_session_factory(make_engine(settings.database_url, pool_size=pool_size,
                                            max_overflow=max_overflow,
                                            ping_after_idle=ping_after_idle))


def redis_client(settings: Settings) -> Redis:
    return redis_from_url(settings.redis_url, sentinel_master=settings.redis_sentinel_master)


def trunks(settings: Settings) -> TrunkTable:
    return load_trunks(settings)


def admissions(settings: Settings, client: Redis, table: TrunkTable,
               sender: TaskSender) -> Admissions:
    return Admissions.from_settings(settings, client, table, sender)


def trunk_capacities(settings: Settings) -> dict[str, TrunkCapacity]:
    """Each trunk's line counter, for the operator's commands (no task is ever sent)."""
    client = redis_client(settings)
    return {t.name: TrunkCapacity(client, t.name, t.lines, t.cps)
            for t in trunks(settings).trunks}


def number_policy(settings: Settings) -> NumberPolicy:
    return NumberPolicy.from_settings(settings)


def number_cap(settings: Settings) -> NumberCap:
    return NumberCap(settings.number_cap, timedelta(seconds=settings.number_cap_window))


@dataclass(frozen=True)
class Wiring:
    """What a process that admits calls runs on."""

    settings: Settings
    sessions: sessionmaker[Session]
    redis: Redis
    trunks: TrunkTable
    admissions: Admissions
    policy: NumberPolicy
    number_cap: NumberCap


def wire(settings: Settings, sender: TaskSender, *, pool_size: int = PROCESS_POOL,
         max_overflow: int = 0, ping_after_idle: float | None = None) -> Wiring:
    client = redis_client(settings)
    table = trunks(settings)
    sessions = database(settings, pool_size, max_overflow, ping_after_idle=ping_after_idle)
    return Wiring(settings, sessions, client, table,
                  admissions(settings, client, table, sender), number_policy(settings),
                  number_cap(settings))
