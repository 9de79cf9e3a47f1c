"""The sweeper: calls left queued (a publish that failed, a worker that died before its claim,
Redis data lost) are put back in their trunk's line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.redis.capacity import API, CAMPAIGN
from dispatcher.usecases.admission import Admissions

logger = logging.getLogger(__name__)


def requeue_stale(sessions: Sessions, admissions: Admissions, older_than: timedelta) -> int:
    """Put back in line the queued calls that fell out of it: Redis was down at submit time, a
    publish failed, a pool child died before its claim, or Redis lost its data. A call that is
    still waiting or holds a line is left alone; a duplicate would be harmless anyway, since
    the claim dedupes."""
    cutoff = datetime.now(tz=UTC) - older_than
    with sessions() as session:
        rows = CallRepository(session).stale_queued(cutoff)
    requeued = 0
    for row in rows:
        if not (admissions.enabled and admissions.is_tracked(row.id, row.trunk)):
            admissions.enqueue(row.id, row.trunk, priority=row.priority,
                               created=row.created_at,
                               source=CAMPAIGN if row.source == "campaign" else API)
            requeued += 1
    with sessions.begin() as session:
        CallRepository(session).mark_published([row.id for row in rows])
    if requeued:
        logger.warning("put %d queued call(s) back in line", requeued)
    return requeued
