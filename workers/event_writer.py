"""Write AMI events to PostgreSQL in order, holding them while the database is away.

Asterisk drops an AMI client that stops reading (its write timeout is 100 ms by default) and
keeps nothing for it, so the consumer must keep draining the socket even when PostgreSQL is
slow or down. Batches wait here, in arrival order, and are retried with backoff; the writes are
idempotent, so a batch retried after an ambiguous failure does no harm.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from dispatcher import recording
from dispatcher.ami.protocol import AMIMessage
from dispatcher.services import Sessions

logger = logging.getLogger(__name__)


class EventWriter:
    def __init__(self, sessions: Sessions, on_ended: Callable[[recording.Ended], None],
                 max_events: int = 200_000) -> None:
        self.sessions = sessions
        self.on_ended = on_ended
        self.max_events = max_events
        self._batches: deque[list[AMIMessage]] = deque()
        self._held = 0
        self._retry_at = 0.0
        self._backoff = 0.1
        self.dropped = 0

    @property
    def held(self) -> int:
        return self._held

    def add(self, batch: list[AMIMessage]) -> None:
        self._batches.append(batch)
        self._held += len(batch)
        while self._held > self.max_events and len(self._batches) > 1:
            # Memory is finite: give up the oldest; reconciliation settles their calls later.
            oldest = self._batches.popleft()
            self._held -= len(oldest)
            self.dropped += len(oldest)
            logger.error("event backlog full: dropped %d event(s); reconciliation will settle "
                         "their calls", len(oldest))

    def flush(self) -> bool:
        """Write what is held; False while the database is unavailable (try again later)."""
        if not self._batches:
            return True
        if time.monotonic() < self._retry_at:
            return False
        while self._batches:
            batch = self._batches[0]
            try:
                ended = recording.record_events(self.sessions, batch)
            except DBAPIError as exc:
                self._retry_at = time.monotonic() + self._backoff
                logger.warning("database unavailable (%s); holding %d event(s), retry in "
                               "%.1fs", type(exc).__name__, self._held, self._backoff)
                self._backoff = min(self._backoff * 2, 5.0)
                return False
            self._batches.popleft()
            self._held -= len(batch)
            self._backoff = 0.1
            self.on_ended(ended)
        return True
