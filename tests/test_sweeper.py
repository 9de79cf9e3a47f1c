"""The sweeper re-publishes queued calls whose task message may have been lost."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy.orm import Session, sessionmaker

from dispatcher import services
from dispatcher.config import Settings
from dispatcher.db.tables import CallRow
from web.deps import CeleryPublisher


def add(sessions: sessionmaker[Session], status: str, published_ago: timedelta | None) -> uuid.UUID:
    now = datetime.now(tz=UTC)
    call_id = uuid.uuid4()
    with sessions.begin() as session:
        session.add(CallRow(id=call_id, to_number="+989121231001",
                            dial_string="PJSIP/09121231001@carrier-trunk", ring_timeout=30,
                            variables={}, status=status, created_at=now - timedelta(hours=1),
                            published_at=None if published_ago is None else now - published_ago))
    return call_id


def test_only_queued_calls_without_a_recent_publish_are_republished_once(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    never = add(sessions, "queued", None)
    long_ago = add(sessions, "queued", timedelta(minutes=10))
    add(sessions, "queued", timedelta(seconds=5))
    add(sessions, "initiated", None)
    add(sessions, "canceled", None)
    publisher = CeleryPublisher(settings.redis_url, settings.queue_name)

    assert services.republish_stale(sessions, publisher.originate, timedelta(minutes=2)) == 2
    assert services.republish_stale(sessions, publisher.originate, timedelta(minutes=2)) == 0

    raw = redis.Redis.from_url(settings.redis_url).lrange(settings.queue_name, 0, -1)
    ids = {json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in raw}
    assert ids == {str(never), str(long_ago)}
