"""The event consumer: one AMI session with events on, writing every call-state change.

A reconnect loop plus a batch writer. After every (re)connect, and periodically, it reconciles:
AMI keeps nothing for a disconnected client, so calls that ended while we were away are
settled from what the PBX still knows (live channels, CDRs) or marked unresolved.
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from dispatcher import bootstrap
from dispatcher.adapters.ami.client import AMIEventClient
from dispatcher.adapters.ami.errors import AMIError
from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.adapters.db.consumer_sessions import ConsumerSessionRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.config import Settings, load_settings
from dispatcher.domain.trunks import load_trunks
from dispatcher.logs import configure_logging
from dispatcher.usecases import reconcile as reconciling
from dispatcher.usecases import record_events as recording
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.line_sync import resync_lines
from workers import consumer_metrics as metrics
from workers.event_writer import EventWriter

logger = logging.getLogger(__name__)
BATCH_SIZE = 500
PING_EVERY = 10.0
RECONNECT_FIRST = 0.5
"""The wait before reconnecting after a session that had logged in. It doubles only while
attempts keep failing, up to RECONNECT_MAX: a refused connection costs nothing, and a PBX that
comes back must be watched again at once (admission waits for it)."""
RECONNECT_MAX = 2.0
WATCH_EVERY = 1.0
"""How often a connected consumer tells admission that its PBX is watched."""
RECONCILE_WAIT = 1.0
"""How long reconciliation waits for held events to be written (it must not judge a call whose
Hangup is still held), not reading the socket meanwhile."""


class EventConsumer:
    def __init__(self, settings: Settings, sessions: Sessions,
                 stop: threading.Event | None = None, name: str | None = None,
                 admissions: Admissions | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.admissions = admissions
        self._release_lines = recording.ReleaseLines(admissions, settings.queue_name)
        endpoint = settings.events_ami
        self.trunks = [t for t in load_trunks(settings).trunks
                       if (t.ami.host, t.ami.port) == (endpoint.host, endpoint.port)]
        self.stop = stop or threading.Event()
        self.name = name or f"{os.uname().nodename}:{os.getpid()}"
        self.connected = threading.Event()
        self.reconnect_delays: list[float] = []  # what each reconnect waited, for operators
        self._logged_in = False
        self._last_watch = 0.0

    def run(self) -> None:
        # One writer for the process, not per AMI session: events still held when a session
        # is lost (the database was away too) are written once it is back, in order, before
        # the next session's.
        writer = EventWriter(self.sessions, self._release_lines)
        try:
            self._reconnecting(writer)
        finally:
            writer.close()

    def _reconnecting(self, writer: EventWriter) -> None:
        delay = RECONNECT_FIRST
        while not self.stop.is_set():
            self._logged_in = False
            try:
                self._session(writer)
            except AMIError as exc:
                error = f"AMI session lost: {exc}"
            except DBAPIError as exc:
                error = f"database unavailable ({type(exc).__name__})"
            else:
                error = "AMI session ended"
            self.connected.clear()
            if self.stop.is_set():
                break
            if self._logged_in:  # the PBX was there a moment ago: try again soon
                delay = RECONNECT_FIRST
                logger.warning("%s; reconnecting in %.1fs", error, delay)
            else:
                logger.warning("no AMI session (%s); retrying in %.1fs", error, delay)
            self.reconnect_delays.append(delay)
            del self.reconnect_delays[:-100]
            self.stop.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    def _session(self, writer: EventWriter) -> None:
        client = AMIEventClient(self.settings.events_ami)
        booted = client.connect()
        self._logged_in = True
        epoch = self._open_epoch(booted)
        try:
            self.connected.set()
            self._watch(resume=True)
            metrics.AMI_CONNECTED.set(1)
            metrics.RECONNECTS.inc()
            self._report_ami("connected")
            logger.info("event consumer connected to %s:%s", self.settings.ami_host,
                        self.settings.ami_port)
            self._pump(client, writer)
        finally:
            client.close()
            metrics.AMI_CONNECTED.set(0)
            self._report_ami("disconnected")
            self._close_epoch(epoch)

    def _pump(self, client: AMIEventClient, writer: EventWriter) -> None:
        """Read, write, ping and reconcile; reconcile first thing, and never while events are
        still held (a held Hangup must beat the reconciliation of its call)."""
        last_heard = last_report = time.monotonic()
        next_reconcile = 0.0
        while not self.stop.is_set():
            batch = self._read_batch(client)
            now = time.monotonic()
            if batch:
                metrics.EVENTS_READ.inc(len(batch))
                writer.add(batch)
                last_heard = now
            writer.check()
            metrics.EVENTS_HELD.set(writer.held)
            if now - self._last_watch >= WATCH_EVERY:
                self._watch()
            if now - last_heard > PING_EVERY:
                # Only a quiet connection needs proving alive; pinging a busy one would stop
                # the hand-over to the writer until the reply comes, behind every event before it.
                client.ping()
                last_heard = now
            if now - last_report > PING_EVERY:
                self._report_ami("connected")
                last_report = now
            # Not while a backlog is being written: reconciling waits for it, without reading.
            if now >= next_reconcile and writer.held <= BATCH_SIZE:
                if self._reconcile(client, writer):
                    next_reconcile = now + self.settings.reconcile_interval

    def _read_batch(self, client: AMIEventClient) -> list[AMIMessage]:
        """Wait for one event, then take whatever else has already arrived (up to a batch):
        no artificial delay, so a call's end frees its line as soon as it is written."""
        first = client.next_event(timeout=0.5)
        if first is None:
            return []
        batch = [first]
        while len(batch) < BATCH_SIZE:
            message = client.next_event(timeout=0)
            if message is None:
                break
            batch.append(message)
        return batch

    def _reconcile(self, client: AMIEventClient, writer: EventWriter) -> bool:
        """Settle what ended unobserved; False when the database is not there to do it."""
        arrived = []
        while (message := client.next_event(timeout=0)) is not None:
            arrived.append(message)
        writer.add(arrived)
        if not writer.flush(timeout=RECONCILE_WAIT):
            return False
        items = client.request_list([("Action", "CoreShowChannels")])
        try:
            result = reconciling.reconcile(
                self.sessions, reconciling.live_channels_from(items),
                grace=timedelta(seconds=self.settings.reconcile_grace))
            if self.admissions is not None:
                self._release_lines(result.ended)
                resync_lines(self.sessions, self.admissions, self.trunks, items)
        except (DBAPIError, RedisError) as exc:
            logger.warning("reconciliation postponed: %s unavailable", type(exc).__name__)
            return False
        metrics.UNRESOLVED.inc(result.unresolved)
        if result.settled or result.unresolved:
            logger.warning("reconciliation: %d live, %d settled from CDRs, %d unresolved",
                           result.live, result.settled, result.unresolved)
        return True

    def _watch(self, resume: bool = False) -> None:
        """Tell admission this PBX is watched; at (re)connect also admit what waited meanwhile,
        since admission paused while no consumer could see the PBX."""
        self._last_watch = time.monotonic()
        if self.admissions is None:
            return
        try:
            for trunk in self.trunks:
                self.admissions.watched(trunk.name)
                if resume:
                    self.admissions.pump(trunk.name)
        except RedisError as exc:
            logger.warning("could not report the PBX watched (%s)", type(exc).__name__)

    def _report_ami(self, state: str) -> None:
        """Publish this endpoint's AMI state for ``GET /v1/trunks`` (expires if we die)."""
        if self.admissions is None:
            return
        try:
            for trunk in self.trunks:
                self.admissions.capacity(trunk.name).report_ami(state)
        except Exception:  # visibility only; never let it stop event recording
            logger.debug("could not report AMI state", exc_info=True)

    def _open_epoch(self, booted: AMIMessage | None) -> int | None:
        """Record the connection; best effort, since events must flow even without the DB."""
        uptime = booted.get("Uptime") if booted else None
        try:
            with self.sessions.begin() as session:
                return ConsumerSessionRepository(session).opened(
                    self.name, datetime.now(tz=UTC), uptime)
        except DBAPIError:
            logger.warning("could not record the consumer session start (database down)")
            return None

    def _close_epoch(self, epoch: int | None) -> None:
        if epoch is None:
            return
        try:
            with self.sessions.begin() as session:
                ConsumerSessionRepository(session).closed(epoch, datetime.now(tz=UTC))
        except Exception:  # the database may be what failed; the gap shows either way
            logger.exception("could not record the end of consumer session %s", epoch)


def tune_gc() -> None:
    """Collect garbage less often. The consumer makes a few dozen short-lived objects per event
    and keeps none in cycles; with the default threshold (700) a collection ran every dozen
    events, each walking whatever backlog was held: a sixth of the consumer's CPU."""
    gc.freeze()  # what start-up made lives for the whole process: never walk it again
    gc.set_threshold(20_000, 50, 100)


def main(argv: list[str] | None = None) -> int:
    settings = load_settings().require("database_url")
    configure_logging(settings.log_level, settings.log_format, settings.log_mask_numbers)
    sessions = bootstrap.database(settings)
    admissions = None
    if settings.redis_url:  # without Redis it records events; nothing frees or fills lines
        from workers.celery_app import CelerySender

        admissions = bootstrap.admissions(settings, bootstrap.redis_client(settings),
                                          bootstrap.trunks(settings), CelerySender())
    consumer = EventConsumer(settings, sessions, admissions=admissions)
    metrics.serve(settings.consumer_metrics_port)
    tune_gc()

    def _stop(*_: Any) -> None:
        consumer.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # A consumer that has gone quiet can be asked where it is (``kill -USR1``): every
    # thread's stack goes to the log, and the consumer carries on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    consumer.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
