"""Admission: the only path from "queued" to a Celery originate task.

Every process that can free or fill a line (the API on submit and cancel, a worker that could
not dial, the event consumer when a call ends, the periodic sweeper) calls :meth:`pump`, which
admits as many waiting calls as there are free lines and hands exactly those to Celery. A
worker dials only while its call holds a lease (:meth:`hold`), so an expired or reclaimed
lease can never turn into one call too many.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

import redis

from dispatcher.adapters.redis.capacity import API, TrunkCapacity, Usage, waiting_score
from dispatcher.adapters.tasknames import ORIGINATE_CALL, PUMP_TRUNK
from dispatcher.config import Settings
from dispatcher.devstack.faults import AFTER_ADMISSION, checkpoint
from dispatcher.domain.trunks import TrunkTable

logger = logging.getLogger(__name__)


class Waiting(NamedTuple):
    """A call to put in line: what orders it among the others on its trunk."""

    call_id: uuid.UUID
    trunk: str
    priority: int
    created: datetime
    source: int = API


class TaskSender(Protocol):
    def send(self, name: str, args: list[str], queue: str,
             countdown: float | None = None) -> None: ...


class Admissions:
    def __init__(self, client: redis.Redis, trunks: TrunkTable, sender: TaskSender, *,
                 enabled: bool = True, admit_lease_seconds: float = 60,
                 max_call_seconds: float = 3600, unwatched_pause: float = 0) -> None:
        """``unwatched_pause``: with it (seconds), a trunk admits only while an event consumer
        has reported its PBX watched within that time (:meth:`watched`); 0 admits regardless."""
        self.client = client
        self.trunks = trunks
        self.sender = sender
        self.enabled = enabled
        self.admit_lease_seconds = admit_lease_seconds
        self.max_call_seconds = max_call_seconds
        self.unwatched_pause = unwatched_pause
        self._capacity = {t.name: TrunkCapacity(client, t.name, t.lines, t.cps,
                                                require_watch=unwatched_pause > 0)
                          for t in trunks.trunks}

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis, trunks: TrunkTable,
                      sender: TaskSender) -> Admissions:
        """The one way entry points build it, so web, workers and the consumer agree."""
        return cls(client, trunks, sender, enabled=settings.capacity != "off",
                   admit_lease_seconds=settings.admit_lease_seconds,
                   max_call_seconds=settings.max_call_seconds,
                   unwatched_pause=settings.unwatched_pause)

    def capacity(self, trunk: str) -> TrunkCapacity:
        return self._capacity[trunk]

    def load_scripts(self) -> None:
        """At process start: the first admission then skips a NOSCRIPT round trip."""
        if self.enabled:
            for capacity in self._capacity.values():
                capacity.load_scripts()

    def enqueue(self, call_id: uuid.UUID, trunk: str, *, priority: int, created: datetime,
                source: int = API) -> None:
        """Put a call in its trunk's line (or, with capacity control off, straight to Celery)."""
        self.enqueue_many([Waiting(call_id, trunk, priority, created, source)])

    def enqueue_many(self, calls: Iterable[Waiting]) -> None:
        """Put calls in line with one round trip per trunk, then admit what fits."""
        by_trunk: dict[str, list[tuple[uuid.UUID, float]]] = {}
        for call in calls:
            if not self.enabled:
                self._publish(call.call_id, call.trunk)
                continue
            by_trunk.setdefault(call.trunk, []).append(
                (call.call_id, waiting_score(call.priority, call.source, call.created)))
        for trunk, waiting in by_trunk.items():
            self.pump(trunk, enqueue=waiting)

    def pump(self, trunk: str, enqueue: Sequence[tuple[uuid.UUID, float]] = ()) -> int:
        """Admit what fits and publish it; schedule a wake-up when pacing holds calls back."""
        if not self.enabled:
            return 0
        capacity = self.capacity(trunk)
        admission = capacity.admit(self.admit_lease_seconds, enqueue=enqueue)
        if admission.call_ids:
            # A crash here leaves lines held with no task sent; the sweeper resends them.
            checkpoint(AFTER_ADMISSION)
        for call_id in admission.call_ids:
            try:
                self._publish(call_id, trunk)
            except Exception:
                # Give the line back; the call stays queued and the sweeper re-enqueues it.
                capacity.release(call_id)
                logger.exception("call %s: publish failed after admission", call_id)
        if admission.retry_after is not None:
            queue = self.trunks.get(trunk).queue
            self.sender.send(PUMP_TRUNK, [trunk], queue, countdown=admission.retry_after)
        return len(admission.call_ids)

    def hold(self, call_id: uuid.UUID, trunk: str) -> bool:
        """Confirm, just before dialling, that the call still holds a line, and keep it long
        enough for the Originate. False means: not admitted (any more); do not dial."""
        if not self.enabled:
            return True
        return self.capacity(trunk).extend(call_id, self.admit_lease_seconds)

    def dialled(self, call_id: uuid.UUID, trunk: str, ring_timeout: float) -> None:
        """The call is on the wire: keep its line for the longest call it can become."""
        if self.enabled:
            self.capacity(trunk).extend(call_id, ring_timeout + self.max_call_seconds)

    def release(self, call_id: uuid.UUID, trunk: str) -> None:
        """The call is over (or never dialled): free its line and let the next one in."""
        self.release_many([(call_id, trunk)])

    def release_many(self, ended: Iterable[tuple[uuid.UUID, str]]) -> None:
        """Calls that ended together (one written batch of events): one round trip frees all
        their lines on a trunk, and one admission fills them, instead of one of each per call:
        when a burst of calls ends, the last line would otherwise wait for all the others."""
        if not self.enabled:
            return
        by_trunk: dict[str, list[uuid.UUID]] = {}
        for call_id, trunk in ended:
            by_trunk.setdefault(trunk, []).append(call_id)
        for trunk, call_ids in by_trunk.items():
            if self.capacity(trunk).release_many(call_ids):
                self.pump(trunk)

    def watched(self, trunk: str) -> None:
        """The event consumer sees ``trunk``'s PBX now (called about every second)."""
        if self.enabled and self.unwatched_pause > 0:
            self.capacity(trunk).watched(self.unwatched_pause)

    def unconfirmed(self, trunk: str, older_than: float) -> set[uuid.UUID]:
        """Calls admitted more than ``older_than`` seconds ago that no worker has taken up
        (:meth:`TrunkCapacity.unconfirmed`)."""
        if not self.enabled:
            return set()
        return self.capacity(trunk).unconfirmed(self.admit_lease_seconds, older_than)

    def republish(self, call_id: uuid.UUID, trunk: str) -> None:
        """Send an admitted call's task again, keeping its line: the first may never have
        been sent (the process that admitted it died before publishing) or may be lost.
        A second task is harmless, since only one claim of a call succeeds."""
        self._publish(call_id, trunk)

    def is_tracked(self, call_id: uuid.UUID, trunk: str) -> bool:
        return not self.enabled or self.capacity(trunk).is_tracked(call_id)

    def usage(self, trunk: str) -> Usage:
        return self.capacity(trunk).usage()

    def ami_state(self, trunk: str) -> str:
        """What the event consumer last reported of the trunk's AMI session."""
        return self.capacity(trunk).ami_state()

    def _publish(self, call_id: uuid.UUID, trunk: str) -> None:
        self.sender.send(ORIGINATE_CALL, [str(call_id)], self.trunks.get(trunk).queue)
