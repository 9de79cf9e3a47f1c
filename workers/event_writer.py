"""Write AMI events to PostgreSQL in order, on a thread of their own, holding them while the
database is away.

Asterisk drops an AMI client that stops reading (its write timeout is 100 ms by default) and
keeps nothing for it, so the consumer must keep draining the socket even when PostgreSQL is
slow or down. The reading loop only hands batches over; this thread writes them in arrival
order, while the reader goes on reading (psycopg2 lets go of the GIL while it waits for the
server, so reading and writing overlap). Failed writes are retried with backoff; the writes are
idempotent, so a batch retried after an ambiguous failure does no harm.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.adapters.db.engine import Sessions
from dispatcher.usecases import record_events as recording

logger = logging.getLogger(__name__)

MAX_WRITE = 5000
"""Events per transaction at most: batches that queued up while the last write ran go in
together, so a burst costs fewer round trips."""


class EventWriter:
    def __init__(self, sessions: Sessions, on_ended: Callable[[recording.Ended], None],
                 max_events: int = 200_000) -> None:
        self.sessions = sessions
        self.on_ended = on_ended
        self.max_events = max_events
        self._batches: deque[recording.Batch] = deque()
        self._held = 0
        self._writing = False
        self._failing = False
        self._backoff = 0.1
        self._error: BaseException | None = None
        self._closed = False
        self._changed = threading.Condition()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()

    @property
    def held(self) -> int:
        """Events read but not yet written."""
        return self._held

    def add(self, messages: list[AMIMessage]) -> None:
        """Queue events for writing; never blocks on the database. They are translated and
        their rows built here, in the reading thread, while the writing thread waits for the
        database."""
        self.check()
        batch = recording.prepare(messages)
        if not batch:
            return
        with self._changed:
            self._batches.append(batch)
            self._held += len(batch)
            while self._held > self.max_events and len(self._batches) > 1:
                # Memory is finite: give up the oldest; reconciliation settles their calls.
                oldest = self._batches.popleft()
                self._held -= len(oldest)
                self.dropped += len(oldest)
                logger.error("event backlog full: dropped %d event(s); reconciliation will "
                             "settle their calls", len(oldest))
            self._changed.notify_all()

    def flush(self, timeout: float = 0.0) -> bool:
        """Wait up to ``timeout`` for everything held to be written; False if it is not (the
        database is away, or the writes take longer)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._held or self._writing:
                self._raise_error()
                remaining = deadline - time.monotonic()
                if self._failing or remaining <= 0:
                    return False
                self._changed.wait(remaining)
            self._raise_error()
        return True

    def check(self) -> None:
        """Raise what killed the writing thread, if anything did."""
        with self._changed:
            self._raise_error()

    def close(self, timeout: float = 5.0) -> None:
        """Write what can be written within ``timeout``, then stop the thread."""
        try:
            self.flush(timeout)
        except Exception:  # already reported by the thread
            pass
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise RuntimeError("the event writer stopped") from self._error

    def _run(self) -> None:
        retry_at = 0.0
        try:
            while True:
                with self._changed:
                    while not self._closed:
                        wait = retry_at - time.monotonic()
                        if self._batches and wait <= 0:
                            break
                        self._changed.wait(wait if self._batches else None)
                    if self._closed:
                        return
                    batch = self._take()
                    self._writing = True
                ended = self._write(batch)
                if ended:  # before the batch counts as written: flush() then means done
                    self.on_ended(ended)
                with self._changed:
                    self._writing = False
                    self._failing = ended is None
                    if ended is None:  # keep the order, and do not hammer a database away
                        self._batches.appendleft(batch)
                        retry_at = time.monotonic() + self._backoff
                        self._backoff = min(self._backoff * 2, 5.0)
                    else:
                        self._held -= len(batch)
                        self._backoff = 0.1
                    self._changed.notify_all()
        except BaseException as exc:  # a bug, not the database: let the consumer see it
            logger.exception("event writer stopped")
            with self._changed:
                self._error = exc
                self._writing = False
                self._changed.notify_all()

    def _take(self) -> recording.Batch:
        batch = self._batches.popleft()
        while self._batches and len(batch) + len(self._batches[0]) <= MAX_WRITE:
            batch.extend(self._batches.popleft())
        return batch

    def _write(self, batch: recording.Batch) -> recording.Ended | None:
        """The calls that ended, or None when the database refused the batch."""
        try:
            return recording.record_batch(self.sessions, batch)
        except DBAPIError as exc:
            logger.warning("database unavailable (%s); holding %d event(s), retry in %.1fs",
                           type(exc).__name__, self._held, self._backoff)
            return None
