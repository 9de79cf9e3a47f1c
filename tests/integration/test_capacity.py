"""Line capacity in a real Redis: admission order, the line limit, pacing, lease expiry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

import pytest
import redis

from dispatcher.adapters.redis.capacity import API, CAMPAIGN, TrunkCapacity, waiting_score
from dispatcher.adapters.tasknames import ORIGINATE_CALL, PUMP_TRUNK
from dispatcher.config import Settings
from dispatcher.domain.trunks import load_trunks
from dispatcher.usecases.admission import Admissions, Waiting

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], str, float | None]] = []

    def send(self, name: str, args: list[str], queue: str,
             countdown: float | None = None) -> None:
        self.sent.append((name, args, queue, countdown))

    def originated(self) -> list[uuid.UUID]:
        return [uuid.UUID(args[0]) for name, args, _, _ in self.sent if name == ORIGINATE_CALL]


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def capacity(client: redis.Redis, lines: int, cps: int = 0) -> TrunkCapacity:
    return TrunkCapacity(client, f"t-{uuid.uuid4().hex[:8]}", lines, cps)


def test_admission_never_exceeds_the_lines(client: redis.Redis) -> None:
    lines = capacity(client, 3)
    calls = [uuid.uuid4() for _ in range(30)]
    for i, call in enumerate(calls):
        lines.enqueue(call, waiting_score(5, API, T0 + timedelta(seconds=i)))
    first = lines.admit(60)
    assert first.call_ids == calls[:3]
    assert lines.admit(60).call_ids == []  # nothing frees, nothing more gets in
    lines.release(calls[1])
    assert lines.admit(60).call_ids == [calls[3]]
    assert lines.usage().in_use == 3 and lines.usage().waiting == 26


def test_waiting_calls_go_by_priority_then_api_before_campaign_then_age(
    client: redis.Redis,
) -> None:
    lines = capacity(client, 10)
    old_campaign, new_api, old_api, urgent = (uuid.uuid4() for _ in range(4))
    lines.enqueue(old_campaign, waiting_score(5, CAMPAIGN, T0))
    lines.enqueue(new_api, waiting_score(5, API, T0 + timedelta(hours=1)))
    lines.enqueue(old_api, waiting_score(5, API, T0))
    lines.enqueue(urgent, waiting_score(9, CAMPAIGN, T0 + timedelta(hours=2)))
    assert lines.admit(60).call_ids == [urgent, old_api, new_api, old_campaign]


def test_an_expired_lease_gives_its_line_back(client: redis.Redis) -> None:
    lines = capacity(client, 1)
    crashed, next_call = uuid.uuid4(), uuid.uuid4()
    lines.enqueue(crashed, waiting_score(5, API, T0))
    lines.enqueue(next_call, waiting_score(5, API, T0 + timedelta(seconds=1)))
    assert lines.admit(0.3).call_ids == [crashed]  # its holder then dies without a word
    assert lines.admit(0.3).call_ids == []
    time.sleep(0.4)
    assert lines.admit(60).call_ids == [next_call]
    assert not lines.extend(crashed, 60)  # the dead holder cannot take it back


def test_extending_a_lease_keeps_the_line(client: redis.Redis) -> None:
    lines = capacity(client, 1)
    call, other = uuid.uuid4(), uuid.uuid4()
    lines.enqueue(call, 1)
    lines.enqueue(other, 2)
    lines.admit(0.3)
    assert lines.extend(call, 60)
    time.sleep(0.4)
    assert lines.admit(60).call_ids == []


def test_pacing_spreads_admissions_and_says_when_to_come_back(client: redis.Redis) -> None:
    lines = capacity(client, 30, cps=2)
    calls = [uuid.uuid4() for _ in range(5)]
    for i, call in enumerate(calls):
        lines.enqueue(call, i)
    first = lines.admit(60)
    assert first.call_ids == calls[:2]
    assert first.retry_after is not None and 0 < first.retry_after <= 1.0
    time.sleep(first.retry_after + 0.05)
    assert lines.admit(60).call_ids == calls[2:4]


def test_foreign_channels_occupy_lines_too(client: redis.Redis) -> None:
    lines = capacity(client, 3)
    for i in range(3):
        lines.enqueue(uuid.uuid4(), i)
    lines.set_foreign(2)
    assert len(lines.admit(60).call_ids) == 1


def test_resync_drops_leases_of_calls_that_are_over(client: redis.Redis) -> None:
    lines = capacity(client, 3)
    live, over = uuid.uuid4(), uuid.uuid4()
    lines.enqueue(live, 1)
    lines.enqueue(over, 2)
    lines.admit(60)
    assert lines.resync([live]) == 1
    assert lines.holders() == [live]


class TrunkSettings(TypedDict, total=False):
    """The trunk's :class:`Settings` these tests change."""

    trunk_lines: int
    trunk_cps: int
    queue_name: str


def admissions_on(client: redis.Redis, settings: Settings, *, enabled: bool = True,
                  unwatched_pause: float = 0, **trunk: Unpack[TrunkSettings]
                  ) -> tuple[Admissions, RecordingSender]:
    trunks = load_trunks(Settings(trunk_name=settings.trunk_name, **trunk))
    sender = RecordingSender()
    return Admissions(client, trunks, sender, enabled=enabled,
                      unwatched_pause=unwatched_pause), sender


def queue_batch(admissions: Admissions, trunk: str, count: int) -> list[uuid.UUID]:
    """Calls queued as the API queues a batch: one acceptance time, so equal scores, which
    Redis orders by member, and ascending ids, so they wait in the order given."""
    calls = sorted(uuid.uuid4() for _ in range(count))
    admissions.enqueue_many(Waiting(call, trunk, 5, T0) for call in calls)
    return calls


class TestAdmissions:
    def test_enqueue_publishes_only_admitted_calls_to_the_trunk_queue(
        self, client: redis.Redis, settings: Settings
    ) -> None:
        admissions, sender = admissions_on(client, settings, trunk_lines=2, queue_name="pbx-a")
        calls = [uuid.uuid4() for _ in range(5)]
        for i, call in enumerate(calls):
            admissions.enqueue(call, settings.trunk_name, priority=5,
                               created=T0 + timedelta(seconds=i))
        assert sender.originated() == calls[:2]
        assert {queue for _, _, queue, _ in sender.sent} == {"pbx-a"}
        admissions.release(calls[0], settings.trunk_name)  # the consumer saw it end
        assert sender.originated() == calls[:3]
        admissions.release(calls[4], settings.trunk_name)  # canceled while waiting
        admissions.release(calls[1], settings.trunk_name)
        assert sender.originated() == calls[:4]

    def test_calls_that_end_together_free_their_lines_in_one_go(
        self, client: redis.Redis, settings: Settings
    ) -> None:
        admissions, sender = admissions_on(client, settings, trunk_lines=3)
        calls = queue_batch(admissions, settings.trunk_name, 7)
        assert sender.originated() == calls[:3]
        # Two calls ended and one waiting call was canceled, all in one written batch.
        ended = [calls[0], calls[2], calls[3]]
        admissions.release_many((call, settings.trunk_name) for call in ended)
        assert sender.originated() == calls[:3] + calls[4:6]
        assert admissions.usage(settings.trunk_name).in_use == 3
        assert admissions.capacity(settings.trunk_name).waiting() == calls[6:]

    def test_a_paused_trunk_admits_nothing_until_resumed_and_keeps_the_order(
        self, client: redis.Redis, settings: Settings
    ) -> None:
        admissions, sender = admissions_on(client, settings, trunk_lines=2)
        lines = admissions.capacity(settings.trunk_name)
        lines.pause()  # what `dispatcher trunk pause` does
        calls = [uuid.uuid4() for _ in range(3)]
        for i, call in enumerate(calls):
            admissions.enqueue(call, settings.trunk_name, priority=5,
                               created=T0 + timedelta(seconds=i))
        # Another process (a web worker on another host) sees the same flag.
        elsewhere = Admissions(client, admissions.trunks, sender)
        assert elsewhere.pump(settings.trunk_name) == 0
        assert sender.originated() == []
        assert admissions.capacity(settings.trunk_name).waiting() == calls
        lines.resume()
        assert admissions.pump(settings.trunk_name) == 2  # the next pump admits again
        assert sender.originated() == calls[:2]
        assert not elsewhere.usage(settings.trunk_name).paused

    def test_nothing_is_admitted_on_a_pbx_no_event_consumer_watches(
        self, client: redis.Redis, settings: Settings
    ) -> None:
        admissions, sender = admissions_on(client, settings, trunk_lines=3,
                                           unwatched_pause=0.3)
        trunk = settings.trunk_name
        calls = queue_batch(admissions, trunk, 4)
        assert sender.originated() == []  # no consumer has connected yet
        assert not admissions.usage(trunk).watched
        admissions.watched(trunk)  # the consumer connected (and renews this every second)
        assert admissions.pump(trunk) == 3
        assert admissions.usage(trunk).watched
        time.sleep(0.4)  # its AMI session was lost longer than the setting
        admissions.release(calls[0], trunk)
        assert sender.originated() == calls[:3]  # the freed line stays free meanwhile
        assert not admissions.usage(trunk).watched
        admissions.watched(trunk)  # back: the waiting call goes
        admissions.pump(trunk)
        assert sender.originated() == calls

    def test_a_line_limit_never_cuts_calls_and_admits_below_it_only(
        self, client: redis.Redis, settings: Settings
    ) -> None:
        admissions, sender = admissions_on(client, settings, trunk_lines=4)
        calls = queue_batch(admissions, settings.trunk_name, 8)
        assert sender.originated() == calls[:4]
        lines = admissions.capacity(settings.trunk_name)
        lines.limit_lines(2)  # the carrier lost half of its lines
        assert admissions.usage(settings.trunk_name).line_limit == 2
        # Four calls on the wire stay; the first two ends only bring the count down to 2.
        admissions.release_many((call, settings.trunk_name) for call in calls[:2])
        assert sender.originated() == calls[:4]
        admissions.release(calls[2], settings.trunk_name)
        assert sender.originated() == calls[:5]
        assert admissions.usage(settings.trunk_name).in_use == 2
        lines.limit_lines(None)
        assert admissions.pump(settings.trunk_name) == 2
        assert sender.originated() == calls[:7]
        assert admissions.usage(settings.trunk_name).line_limit is None

    def test_a_line_limit_cannot_exceed_the_configured_lines(
        self, client: redis.Redis, settings: Settings
    ) -> None:
        admissions, _ = admissions_on(client, settings, trunk_lines=4)
        lines = admissions.capacity(settings.trunk_name)
        for wrong in (0, 5, -1):
            with pytest.raises(ValueError, match="between 1 and the 4 configured lines"):
                lines.limit_lines(wrong)
        assert admissions.usage(settings.trunk_name).line_limit is None

    def test_pacing_schedules_a_pump_instead_of_polling(
        self, client: redis.Redis, settings: Settings
    ) -> None:
        admissions, sender = admissions_on(client, settings, trunk_cps=1)
        for i in range(3):
            admissions.enqueue(uuid.uuid4(), settings.trunk_name, priority=5,
                               created=T0 + timedelta(seconds=i))
        pumps = [countdown for name, _, _, countdown in sender.sent if name == PUMP_TRUNK]
        assert len(sender.originated()) == 1 and pumps
        assert all(c is not None and 0 < c <= 1 for c in pumps)

    def test_capacity_off_publishes_at_once(self, client: redis.Redis,
                                            settings: Settings) -> None:
        admissions, sender = admissions_on(client, settings, trunk_lines=1, enabled=False)
        for _ in range(3):
            admissions.enqueue(uuid.uuid4(), settings.trunk_name, priority=5, created=T0)
        assert len(sender.originated()) == 3
