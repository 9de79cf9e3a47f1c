"""Celery tasks: thin shells around :mod:`dispatcher.usecases.dial_call` and
:mod:`dispatcher.usecases.requeue`.

Only the call id travels through the broker, so phone numbers never reach Redis or Flower.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task
from celery.signals import worker_process_init
from sqlalchemy.orm import Session, sessionmaker

from dispatcher import bootstrap
from dispatcher.adapters.ami.errors import AMIUnavailable
from dispatcher.adapters.ami.session_cache import process_session, reset_process_session
from dispatcher.adapters.db.engine import engine_of
from dispatcher.adapters.http import callback_delivery
from dispatcher.adapters.tasknames import (
    DELIVER_CALLBACK,
    DISPATCH_CALLBACKS,
    HANGUP_CALL,
    ORIGINATE_CALL,
    PUMP_TRUNK,
    PURGE_HISTORY,
    REPUBLISH_STALE,
    RUN_HOPPER,
)
from dispatcher.adapters.warm_up import warm_up
from dispatcher.logs import call_context
from dispatcher.usecases import deliver_callbacks, requeue, retention
from dispatcher.usecases import dial_call as dialing
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.dial_guard import DialGuard
from dispatcher.usecases.hopper import Hopper
from workers.celery_app import CelerySender, app, settings, trunks

_wiring: bootstrap.Wiring | None = None
_init_lock = threading.Lock()


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """No I/O here (Celery kills children that take over 4 s): forget inherited state, and
    connect in the background so this child's first call does not wait for it."""
    global _wiring
    _wiring = None
    reset_process_session()
    threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()


def _warm_up() -> None:
    """Open this child's database connection, Redis client and AMI session before its first
    task: each costs 50-150 ms on first use, and that used to be paid by the first call of
    every pool child after each start or recycle. Best effort: a task that comes first, or a
    service that is down, simply connects as it always did."""
    endpoints = {trunk.ami for trunk in trunks.trunks}
    steps = [("database", lambda: engine_of(sessions()).connect().close()),
             ("redis", lambda: admissions().load_scripts())]
    if len(endpoints) == 1:  # one Asterisk per worker: which session to open is clear
        steps.append(("AMI", lambda: process_session(next(iter(endpoints)))))
    warm_up(steps)


def _wired() -> bootstrap.Wiring:
    """This pool child's database pool, Redis client and admission: built on first use, after
    the fork (nothing of the parent's is shared)."""
    global _wiring
    with _init_lock:
        if _wiring is None:
            _wiring = bootstrap.wire(settings, CelerySender())
        return _wiring


def sessions() -> sessionmaker[Session]:
    return _wired().sessions


def admissions() -> Admissions:
    return _wired().admissions


def _ami(trunk: str) -> dialing.DialPort:
    return process_session(trunks.get(trunk).ami)


TARGET = dialing.OriginateTarget.from_settings(settings)


CAP = bootstrap.number_cap(settings)
GUARD = DialGuard(CAP)
POLICY = bootstrap.number_policy(settings)


@app.task(name=ORIGINATE_CALL, bind=True, autoretry_for=(AMIUnavailable,), retry_backoff=1,
          retry_backoff_max=20, max_retries=8)
def originate_call(self: Task, call_id: str) -> str:
    with call_context(call_id):
        return dialing.dial_call(sessions(), uuid.UUID(call_id), _ami, TARGET, admissions(),
                                 guard=GUARD)


@app.task(name=RUN_HOPPER, ignore_result=True)
def run_hopper() -> int:
    """Settle, refill and complete campaigns; cheap when there is nothing to do."""
    hopper = Hopper(sessions(), trunks, POLICY, CAP,
                    upload_grace=timedelta(seconds=settings.campaign_upload_grace))
    return len(hopper.run(admissions()).queued)


@app.task(name=HANGUP_CALL, autoretry_for=(AMIUnavailable,), retry_backoff=1, max_retries=3)
def hangup_call(call_id: str) -> bool:
    with call_context(call_id):
        return dialing.hangup_call(sessions(), uuid.UUID(call_id), _ami)


@app.task(name=DISPATCH_CALLBACKS, ignore_result=True)
def dispatch_callbacks() -> int:
    ids = deliver_callbacks.claim_due(sessions())
    for delivery_id in ids:
        deliver_callback.apply_async(args=[delivery_id])
    return len(ids)


@app.task(name=DELIVER_CALLBACK, ignore_result=True)
def deliver_callback(delivery_id: int) -> str:
    return deliver_callbacks.deliver(sessions(), delivery_id, callback_delivery.post,
                                     allow_private=settings.callback_allow_private)


@app.task(name=PUMP_TRUNK, ignore_result=True)
def pump_trunk(trunk: str) -> int:
    return admissions().pump(trunk)


@app.task(name=REPUBLISH_STALE, ignore_result=True)
def republish_stale() -> int:
    lines = admissions()
    requeued = requeue.requeue_stale(
        sessions(), lines, older_than=timedelta(seconds=settings.publish_retry_after))
    for trunk in trunks.trunks:
        lines.pump(trunk.name)
    return requeued


@app.task(name=PURGE_HISTORY, ignore_result=True)
def purge_history() -> int:
    """Old event logs (and old calls, when a call retention is set), in bounded batches."""
    policy = retention.RetentionPolicy(event_days=settings.event_retention_days,
                                       call_days=settings.call_retention_days)
    purged = retention.purge(sessions(), policy, datetime.now(tz=UTC))
    return purged.events + purged.calls
