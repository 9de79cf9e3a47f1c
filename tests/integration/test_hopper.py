"""The campaign hopper against a real PostgreSQL: lines, DNC, retries, completion, call
windows in each contact's time zone, calls per second and sharing a trunk. Time is a
controlled clock passed in."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.config import Settings
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases import campaigns, dnc_lists
from dispatcher.usecases.hopper import Hopper
from tests.support.campaign_scenario import (
    MONDAY_10_TEHRAN,
    POLICY,
    calls,
    contacts,
    end_calls,
    make_campaign,
    upload,
)


class TestHopper:
    def test_feeds_no_more_than_the_campaign_lines_and_never_a_dnc_number(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        dnc_lists.create_list(sessions, "blocked", None)
        dnc_lists.add_numbers(sessions, "blocked", ["09121000002"], POLICY)
        cid = make_campaign(sessions, trunks, dnc_lists=["blocked"])
        upload(sessions, cid, "to\n" + "".join(f"0912100000{i}\n" for i in range(1, 9)))
        hopper = Hopper(sessions, trunks, POLICY)
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        run = hopper.run(None, MONDAY_10_TEHRAN)
        assert len(run.queued) == 3
        assert hopper.run(None, MONDAY_10_TEHRAN).queued == []  # still 3 unfinished
        state = contacts(sessions, cid)
        assert state["+989121000002"].state == "skipped"
        assert state["+989121000002"].outcome == "dnc"
        assert all(c.to_number != "+989121000002" for c in calls(sessions, cid))

    def test_retries_follow_the_policy_then_the_campaign_completes(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks,
                            retry={"busy": {"max_attempts": 3, "delay": 60}})
        upload(sessions, cid, "to\n09121000001\n")
        hopper = Hopper(sessions, trunks, POLICY)
        now = MONDAY_10_TEHRAN
        campaigns.change_status(sessions, cid, "start", now)
        for attempt in range(1, 4):
            assert len(hopper.run(None, now).queued) == 1, attempt
            end_calls(sessions, cid, "busy", "busy", now)
            hopper.run(None, now)  # settles; the retry is not due yet
            row = contacts(sessions, cid)["+989121000001"]
            assert row.attempts == attempt
            if attempt < 3:
                assert row.state == "pending"
                assert row.next_attempt_at == now + timedelta(seconds=60)
                assert hopper.run(None, now + timedelta(seconds=59)).queued == []
            now += timedelta(seconds=60)
        assert row.state == "done" and row.outcome == "busy"
        hopper.run(None, now)
        assert campaigns.view(sessions, cid).row.status == "completed"
        assert len(calls(sessions, cid)) == 3

    def test_a_campaign_does_not_complete_while_contacts_may_still_be_arriving(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks)
        now = MONDAY_10_TEHRAN
        upload(sessions, cid, "to\n09121000001\n", at=now)
        campaigns.change_status(sessions, cid, "start", now)
        hopper = Hopper(sessions, trunks, POLICY, upload_grace=timedelta(seconds=30))
        hopper.run(None, now)
        end_calls(sessions, cid, "completed", "answered", now)
        hopper.run(None, now)
        assert campaigns.view(sessions, cid).row.status == "running"  # a next chunk may come
        hopper.run(None, now + timedelta(seconds=31))
        assert campaigns.view(sessions, cid).row.status == "completed"

    @pytest.mark.parametrize("outcome", ["invalid-number", "rejected", "unresolved"])
    def test_never_retries_what_must_not_be_retried(
            self, sessions: sessionmaker[Session], trunks: TrunkTable, outcome: str) -> None:
        cid = make_campaign(sessions, trunks, retry={
            "failed": {"max_attempts": 5, "delay": 0}, "busy": {"max_attempts": 5, "delay": 0}})
        upload(sessions, cid, "to\n09121000001\n")
        hopper = Hopper(sessions, trunks, POLICY)
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        hopper.run(None, MONDAY_10_TEHRAN)
        end_calls(sessions, cid, "failed", outcome, MONDAY_10_TEHRAN)
        hopper.run(None, MONDAY_10_TEHRAN)
        row = contacts(sessions, cid)["+989121000001"]
        assert (row.state, row.outcome, row.attempts) == ("done", outcome, 1)

    def test_windows_apply_in_each_contacts_time_zone(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks, windows=[
            {"days": ["sat", "sun", "mon", "tue", "wed"], "start": "09:00", "end": "17:00"}])
        # 06:30 UTC: 10:00 in Tehran (open), 01:30 in New York (closed), 14:30 in Tokyo
        # (open, a Monday there too).
        upload(sessions, cid, "to,timezone\n09121000001,\n09121000002,America/New_York\n"
                              "09121000003,Asia/Tokyo\n")
        hopper = Hopper(sessions, trunks, POLICY)
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        run = hopper.run(None, MONDAY_10_TEHRAN)
        dialled = {c.to_number for c in calls(sessions, cid)}
        assert len(run.queued) == 2
        assert dialled == {"+989121000001", "+989121000003"}
        waiting = contacts(sessions, cid)["+989121000002"]
        # It opens at 09:00 New York time: 14:00 UTC the same day.
        assert waiting.next_attempt_at == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
        assert hopper.run(None, datetime(2026, 11, 30, 13, 59, tzinfo=UTC)).queued == []
        assert len(hopper.run(None, datetime(2026, 11, 30, 14, 0, tzinfo=UTC)).queued) == 1

    def test_an_upload_in_progress_does_not_hold_up_the_hopper(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks)
        upload(sessions, cid, "to\n09121000001\n")
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        slow = sessions()
        try:  # a second upload, mid-load: its rows hold key-share locks until it commits
            slow.execute(text("INSERT INTO campaign_uploads (id, campaign_id, format, received, "
                              "accepted, duplicates, rejected, seconds) VALUES "
                              "(:u, :c, 'csv', 0, 0, 0, 0, 0)"),
                         {"u": uuid.uuid4(), "c": cid})
            done = threading.Event()

            def run_hopper() -> None:
                Hopper(sessions, trunks, POLICY).run(None, MONDAY_10_TEHRAN)
                done.set()

            worker = threading.Thread(target=run_hopper)
            worker.start()
            assert done.wait(10), "the hopper waited for the upload's transaction"
            campaigns.change_status(sessions, cid, "pause", MONDAY_10_TEHRAN)
        finally:
            slow.rollback()
            slow.close()
        assert len(calls(sessions, cid)) == 1

    def test_calls_per_second_below_one_spaces_the_calls(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks, cps=0.5)
        upload(sessions, cid, "to\n" + "".join(f"0912100000{i}\n" for i in range(1, 6)))
        hopper = Hopper(sessions, trunks, POLICY)
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        queued = [len(hopper.run(None, MONDAY_10_TEHRAN + timedelta(seconds=s)).queued)
                  for s in (0, 1, 1.9, 2.1, 3, 4.2)]
        assert queued == [1, 0, 0, 1, 0, 1]

    def test_two_campaigns_share_the_trunk_by_their_lines(
            self, sessions: sessionmaker[Session], trunks: TrunkTable,
            settings: Settings) -> None:
        big = make_campaign(sessions, trunks, max_lines=settings.trunk_lines)
        small = make_campaign(sessions, trunks, max_lines=settings.trunk_lines // 2)
        rows = "to\n" + "".join(f"09121{i:06d}\n" for i in range(100))
        hopper = Hopper(sessions, trunks, POLICY)
        for cid in (big, small):
            upload(sessions, cid, rows)
            campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        hopper.run(None, MONDAY_10_TEHRAN)
        assert len(calls(sessions, big)) == 20 and len(calls(sessions, small)) == 10


class TestWhyNotDialling:
    """What the campaign says of itself as the hopper works through it, read at the same
    controlled moments."""

    def test_retries_then_the_window_then_a_pause_each_say_why(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks,
                            retry={"busy": {"max_attempts": 2, "delay": 1800}},
                            windows=[{"days": ["sat", "sun", "mon", "tue", "wed"],
                                      "start": "09:00", "end": "17:00"}])
        upload(sessions, cid, "to\n09121000001\n09121000002\n")
        hopper = Hopper(sessions, trunks, POLICY)
        now = MONDAY_10_TEHRAN
        campaigns.change_status(sessions, cid, "start", now)
        assert campaigns.view(sessions, cid, now).activity.state == "dialing"
        assert len(hopper.run(None, now).queued) == 2
        end_calls(sessions, cid, "busy", "busy", now)
        hopper.run(None, now)  # settles both: their retries are due at 10:30
        waiting = campaigns.view(sessions, cid, now)
        assert waiting.activity.reason == "waiting for retries (next at Mon 10:30 Asia/Tehran)"
        assert waiting.eta_seconds is not None and waiting.eta_seconds >= 1800
        evening = now + timedelta(hours=8)  # 18:00: the window closed at 17:00
        closed = campaigns.view(sessions, cid, evening)
        assert closed.activity.reason == "waiting for window (opens Tue 09:00 Asia/Tehran)"
        assert closed.eta_seconds is not None and closed.eta_seconds >= 15 * 3600
        campaigns.change_status(sessions, cid, "pause", evening)
        paused = campaigns.view(sessions, cid, evening)
        assert paused.activity.reason == "paused at Mon 18:00 Asia/Tehran"
        assert paused.eta_seconds is None
        held = campaigns.view(sessions, cid, now, trunk_paused=lambda trunk: True)
        assert held.activity.state == "paused"  # a paused campaign says so first
        campaigns.change_status(sessions, cid, "resume", now)
        held = campaigns.view(sessions, cid, now, trunk_paused=lambda trunk: True)
        assert held.activity.state == "trunk-paused"
