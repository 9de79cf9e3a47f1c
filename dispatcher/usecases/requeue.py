"""The sweeper: calls left queued (a publish that failed, a worker that died before its claim,
Redis data lost) are put back in their trunk's line, and calls admitted whose task no worker
took up (the admitting process died between the admission and the publish) are sent again."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import CallRow
from dispatcher.adapters.redis.capacity import API, CAMPAIGN
from dispatcher.usecases.admission import Admissions

logger = logging.getLogger(__name__)


def requeue_stale(sessions: Sessions, admissions: Admissions, older_than: timedelta,
                  unconfirmed_after: timedelta | None = None) -> int:
    """Put back in line the queued calls that fell out of it: Redis was down at submit time, a
    publish failed, a pool child died before its claim, or Redis lost its data. A call still
    waiting is left alone.

    A call holding a line it was admitted to more than ``unconfirmed_after`` (default
    ``older_than``) ago, with no worker having taken it up, has its task sent again: otherwise
    its line would sit idle until the lease expires, and the call would wait that long again.
    A duplicate task is harmless, since the claim dedupes. A call holding a younger lease is
    looked at again at the next sweep (there are at most as many as lines).

    Returns how many calls were put back or sent again."""
    cutoff = datetime.now(tz=UTC) - older_than
    lease_age = (older_than if unconfirmed_after is None else unconfirmed_after).total_seconds()
    with sessions() as session:
        rows = CallRepository(session).stale_queued(cutoff)
    leases: dict[str, tuple[set[uuid.UUID], set[uuid.UUID]]] = {}
    looked: list[uuid.UUID] = []
    requeued = 0
    for row in rows:
        if not admissions.enabled:
            _put_back(admissions, row)
            looked.append(row.id)
            requeued += 1
            continue
        if row.trunk not in leases:
            leases[row.trunk] = (set(admissions.capacity(row.trunk).holders()),
                                 admissions.unconfirmed(row.trunk, lease_age))
        holding, unconfirmed = leases[row.trunk]
        if row.id in unconfirmed:
            logger.warning("call %s: admitted over %.0fs ago and never taken up; sending its "
                           "task again", row.id, lease_age)
            admissions.republish(row.id, row.trunk)
            requeued += 1
        elif row.id in holding:
            continue  # admitted lately: a worker may be about to take it up
        elif not admissions.is_tracked(row.id, row.trunk):
            _put_back(admissions, row)
            requeued += 1
        looked.append(row.id)
    with sessions.begin() as session:
        CallRepository(session).mark_published(looked)
    if requeued:
        logger.warning("put %d queued call(s) back in line or sent again", requeued)
    return requeued


def _put_back(admissions: Admissions, row: CallRow) -> None:
    admissions.enqueue(row.id, row.trunk, priority=row.priority, created=row.created_at,
                       source=CAMPAIGN if row.source == "campaign" else API)
