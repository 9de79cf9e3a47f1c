"""The one Celery app. ``celery -A workers.celery_app worker`` loads settings here, once.

Each deviation from Celery's defaults below is about one of two failures: dialling twice or
losing a call (``docs/ami-notes.md#celery-delivery`` and ``docs/reliability.md``).
"""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from dispatcher.adapters.redis.broker import share_publish_clients
from dispatcher.adapters.redis.client import broker_transport_options
from dispatcher.adapters.tasknames import (
    DISPATCH_CALLBACKS,
    PURGE_HISTORY,
    REPUBLISH_STALE,
    ROUTINE_TASKS,
    RUN_HOPPER,
)
from dispatcher.config import load_settings
from dispatcher.domain.trunks import load_trunks
from dispatcher.logs import JsonFormatter, RoutineTicks, TextFormatter

# A worker that would dial anonymous by accident does not start (nor beat, nor Flower).
settings = load_settings().require("database_url", "redis_url").require_caller_id()
share_publish_clients()
trunks = load_trunks(settings)

app = Celery("dispatcher", broker=settings.redis_url, include=["workers.tasks"])
app.conf.update(
    task_default_queue=settings.queue_name,
    # A whole-worker crash before the claim redelivers the message; the claim dedupes it.
    task_acks_late=True,
    # A pool child killed after Originate must not be redelivered: that could dial twice.
    task_reject_on_worker_lost=False,
    worker_prefetch_multiplier=1,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    broker_transport_options=broker_transport_options(settings.redis_url,
                                                      settings.redis_sentinel_master),
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    # Backstops only: every AMI wait already has its own deadline.
    task_soft_time_limit=20,
    task_time_limit=30,
    worker_max_tasks_per_child=10000,
    worker_send_task_events=True,
    task_send_sent_event=True,
    beat_schedule={
        # A safety net, not the dispatch path: admission is driven by submits and call ends.
        "requeue-stale-and-pump-trunks": {"task": REPUBLISH_STALE, "schedule": 5.0},
        # Status callbacks wait in an outbox table; this hands the due ones to workers.
        "dispatch-status-callbacks": {"task": DISPATCH_CALLBACKS, "schedule": 1.0},
        # Campaigns: settle ended calls, schedule retries, refill lines, open call windows.
        "run-campaign-hopper": {"task": RUN_HOPPER,
                                "schedule": settings.campaign_fill_interval},
        # Retention: old event logs (and, when set, old calls) in small batches.
        "purge-history": {"task": PURGE_HISTORY, "schedule": 60.0},
    },
)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_format(logger: logging.Logger, **_: object) -> None:
    """Celery sets up its own handlers; give them our format (call ids, masked numbers), and
    keep the housekeeping ticks at DEBUG."""
    formatter = (JsonFormatter if settings.log_format == "json" else TextFormatter)(
        settings.log_mask_numbers)
    for handler in logger.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, RoutineTicks) for f in handler.filters):
            handler.addFilter(RoutineTicks(ROUTINE_TASKS))


class CelerySender:
    """:class:`dispatcher.usecases.admission.TaskSender` for processes that own the Celery app."""

    def send(self, name: str, args: list[str], queue: str,
             countdown: float | None = None) -> None:
        app.send_task(name, args=args, queue=queue, countdown=countdown)
