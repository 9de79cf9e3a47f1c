"""The sweeper re-publishes queued calls whose task message may have been lost."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.celery_sender import CeleryPublisher
from dispatcher.adapters.db.tables import CallRow
from dispatcher.config import Settings
from dispatcher.domain.trunks import load_trunks
from dispatcher.usecases import requeue
from dispatcher.usecases.admission import Admissions


def add(sessions: sessionmaker[Session], trunk: str, status: str,
        published_ago: timedelta | None) -> uuid.UUID:
    now = datetime.now(tz=UTC)
    call_id = uuid.uuid4()
    with sessions.begin() as session:
        session.add(CallRow(id=call_id, to_number="+989121231001",
                            dial_string="PJSIP/09121231001@carrier-trunk", ring_timeout=30,
                            variables={}, status=status, created_at=now - timedelta(hours=1),
                            trunk=trunk,
                            published_at=None if published_ago is None else now - published_ago))
    return call_id


def test_only_queued_calls_that_fell_out_of_line_are_put_back_once(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    trunk = settings.trunk_name
    never = add(sessions, trunk, "queued", None)
    long_ago = add(sessions, trunk, "queued", timedelta(minutes=10))
    recent = add(sessions, trunk, "queued", timedelta(seconds=5))
    add(sessions, trunk, "initiated", None)
    add(sessions, trunk, "canceled", None)
    client = redis.Redis.from_url(settings.redis_url)
    admissions = Admissions(client, load_trunks(settings), CeleryPublisher(settings.redis_url))

    assert requeue.requeue_stale(sessions, admissions, timedelta(minutes=2)) == 2
    assert set(admissions.capacity(trunk).holders()) == {never, long_ago}
    # Looking at everything again: the two just admitted are left alone.
    assert requeue.requeue_stale(sessions, admissions, timedelta(seconds=0),
                                 unconfirmed_after=timedelta(seconds=30)) == 1
    assert set(admissions.capacity(trunk).holders()) == {never, long_ago, recent}

    raw = redis.Redis.from_url(settings.redis_url).lrange(settings.queue_name, 0, -1)
    ids = {json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in raw}
    assert ids == {str(never), str(long_ago), str(recent)}


def test_a_call_admitted_but_never_sent_gets_its_task_again_and_keeps_its_line(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """The process that admitted it died before publishing: its line would sit idle until the
    lease expired, and the call would then wait its turn again."""
    trunk = settings.trunk_name
    orphan = add(sessions, trunk, "queued", timedelta(minutes=10))
    taken_up = add(sessions, trunk, "queued", timedelta(minutes=10))
    client = redis.Redis.from_url(settings.redis_url)
    admissions = Admissions(client, load_trunks(settings), CeleryPublisher(settings.redis_url),
                            admit_lease_seconds=60)
    capacity = admissions.capacity(trunk)
    capacity.enqueue(orphan, 1)
    capacity.enqueue(taken_up, 2)
    # Admitted 40 s ago, under the 60 s lease: as if granted then, never sent.
    assert capacity.admit(lease_seconds=20).call_ids == [orphan, taken_up]
    assert admissions.hold(taken_up, trunk)  # a worker took this one up: its lease is renewed

    assert requeue.requeue_stale(sessions, admissions, timedelta(0),
                                 unconfirmed_after=timedelta(seconds=30)) == 1
    assert set(capacity.holders()) == {orphan, taken_up}
    raw = client.lrange(settings.queue_name, 0, -1)
    assert [json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in raw] == [
        str(orphan)]
    # Sent once per look: the look marks it, so the next sweep within the window skips it.
    assert requeue.requeue_stale(sessions, admissions, timedelta(seconds=30),
                                 unconfirmed_after=timedelta(seconds=30)) == 0
