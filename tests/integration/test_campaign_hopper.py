"""The campaign core against a real PostgreSQL: uploads, the hopper, retries, windows, DNC,
pause and cancel, and the dial-time guard. Time is a controlled clock passed in."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.campaign_repository import CampaignRepository
from dispatcher.adapters.db.repository import CallRepository
from dispatcher.adapters.db.tables import CallbackDeliveryRow, CallRow, CampaignRow, ContactRow
from dispatcher.adapters.http.callback_delivery import campaign_secret, signing_secret
from dispatcher.config import Settings
from dispatcher.domain.campaign_requests import parse_campaign_request
from dispatcher.domain.errors import Conflict
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import load_trunks
from dispatcher.usecases import api_keys, campaigns, contact_upload
from dispatcher.usecases.dial_call import OriginateTarget, dial_call
from dispatcher.usecases.dial_guard import DialGuard, NumberCap
from dispatcher.usecases.hopper import Hopper

POLICY = NumberPolicy()
# Monday 2026-11-30 10:00 in Tehran (UTC+03:30) is 06:30 UTC.
MONDAY_10_TEHRAN = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)


@pytest.fixture
def trunks(settings: Settings):  # type: ignore[no-untyped-def]
    return load_trunks(settings)


def make_campaign(sessions: sessionmaker[Session], trunks, **fields: object) -> uuid.UUID:  # type: ignore[no-untyped-def]
    body = {"name": "test", "max_lines": 3, **fields}
    spec = parse_campaign_request(body, trunks, None)
    return campaigns.create_campaign(sessions, spec, None).id


def upload(sessions: sessionmaker[Session], cid: uuid.UUID, text: str,
           fmt: str = "csv", at: datetime = MONDAY_10_TEHRAN) -> contact_upload.UploadResult:
    """Contacts uploaded at ``at`` by the scenario's clock (their first due time)."""
    return contact_upload.upload_contacts(sessions, cid, text.splitlines(keepends=True), fmt,
                                          POLICY, clock=lambda: at)


def contacts(sessions: sessionmaker[Session], cid: uuid.UUID) -> dict[str, ContactRow]:
    with sessions() as session:
        rows = session.scalars(select(ContactRow).where(ContactRow.campaign_id == cid))
        return {r.to_number: r for r in rows}


def calls(sessions: sessionmaker[Session], cid: uuid.UUID) -> list[CallRow]:
    with sessions() as session:
        return list(session.scalars(select(CallRow).where(CallRow.campaign_id == cid)
                                    .order_by(CallRow.created_at)))


def end_calls(sessions: sessionmaker[Session], cid: uuid.UUID, status: str,
              outcome: str | None, at: datetime) -> None:
    """What the event consumer does when the PBX reports the end of each dialled call."""
    with sessions.begin() as session:
        session.execute(update(CallRow).where(CallRow.campaign_id == cid,
                                              CallRow.status == "queued")
                        .values(status=status, outcome=outcome, ended_at=at,
                                attempt_id=uuid.uuid4(), claimed_at=at))


class TestUpload:
    def test_keeps_valid_rows_drops_duplicates_and_reports_invalid_lines(
            self, sessions: sessionmaker[Session], trunks) -> None:  # type: ignore[no-untyped-def]
        cid = make_campaign(sessions, trunks)
        text = ("to,timezone,name\n"
                "09121000001,,Ali\n"
                "0912 100 0002,Asia/Dubai,Sara\n"
                "12,,Bad\n"
                "+989121000001,,Dup\n"
                "09121000003,Mars/Olympus,Zed\n"
                "09121000004,,\"two\nlines\"\n"
                "09121000005,,evil\r\n"
                "09121000006\n")
        result = upload(sessions, cid, text).as_json()
        assert (result["received"], result["accepted"], result["duplicates"],
                result["rejected"]) == (8, 3, 1, 4)
        with sessions() as session:
            rejects = {r.line: r.reason for r in CampaignRepository(session).rejects(
                uuid.UUID(str(result["upload_id"])))}
        assert set(rejects) == {4, 6, 7, 10}
        assert "to" in rejects[4]
        assert "timezone" in rejects[6]
        assert "variable" in rejects[7]  # a line break inside a variable value
        assert "columns" in rejects[10]
        # line 9 ("evil\r") is kept: the CSV reader treats CRLF as the line end
        kept = contacts(sessions, cid)
        assert set(kept) == {"+989121000001", "+989121000002", "+989121000005"}
        assert kept["+989121000002"].timezone == "Asia/Dubai"
        assert kept["+989121000001"].variables == {"name": "Ali"}
        assert kept["+989121000001"].line == 2

    def test_sending_a_chunk_again_adds_nothing(self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        cid = make_campaign(sessions, trunks)
        text = "to\n09121000001\n09121000002\n"
        assert upload(sessions, cid, text).upload.accepted == 2
        again = upload(sessions, cid, text).upload
        assert (again.accepted, again.duplicates) == (0, 2)

    def test_a_chunk_sent_again_with_its_key_is_answered_from_the_first_time(
            self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        cid = make_campaign(sessions, trunks)
        lines = "to\n09121000001\n12\n".splitlines(keepends=True)
        first = contact_upload.upload_contacts(sessions, cid, lines, "csv", POLICY,
                                          idempotency_key="chunk-1").upload
        again = contact_upload.upload_contacts(sessions, cid, lines, "csv", POLICY,
                                          idempotency_key="chunk-1").upload
        assert again.id == first.id
        assert (again.accepted, again.duplicates, again.rejected) == (1, 0, 1)

    def test_json_lines(self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        cid = make_campaign(sessions, trunks)
        text = ('{"to": "09121000001", "variables": {"code": 12}, "metadata": {"crm": 7}}\n'
                '{"to": "09121000002", "extra": 1}\n'
                'not json\n')
        result = upload(sessions, cid, text, "ndjson").upload
        assert (result.accepted, result.rejected) == (1, 2)
        row = contacts(sessions, cid)["+989121000001"]
        assert row.variables == {"code": "12"} and row.contact_metadata == {"crm": 7}


class TestHopper:
    def test_feeds_no_more_than_the_campaign_lines_and_never_a_dnc_number(
            self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        campaigns.create_dnc_list(sessions, "blocked", None)
        campaigns.add_dnc_numbers(sessions, "blocked", ["09121000002"], POLICY)
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
            self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
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
            self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
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
    def test_never_retries_what_must_not_be_retried(self, sessions, trunks, outcome) -> None:  # type: ignore[no-untyped-def]
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

    def test_windows_apply_in_each_contacts_time_zone(self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
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

    def test_an_upload_in_progress_does_not_hold_up_the_hopper(self, sessions,
                                                                 trunks) -> None:  # type: ignore[no-untyped-def]
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
            worker = threading.Thread(target=lambda: (
                Hopper(sessions, trunks, POLICY).run(None, MONDAY_10_TEHRAN), done.set()))
            worker.start()
            assert done.wait(10), "the hopper waited for the upload's transaction"
            campaigns.change_status(sessions, cid, "pause", MONDAY_10_TEHRAN)
        finally:
            slow.rollback()
            slow.close()
        assert len(calls(sessions, cid)) == 1

    def test_calls_per_second_below_one_spaces_the_calls(self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        cid = make_campaign(sessions, trunks, cps=0.5)
        upload(sessions, cid, "to\n" + "".join(f"0912100000{i}\n" for i in range(1, 6)))
        hopper = Hopper(sessions, trunks, POLICY)
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        queued = [len(hopper.run(None, MONDAY_10_TEHRAN + timedelta(seconds=s)).queued)
                  for s in (0, 1, 1.9, 2.1, 3, 4.2)]
        assert queued == [1, 0, 0, 1, 0, 1]

    def test_two_campaigns_share_the_trunk_by_their_lines(self, sessions, trunks,
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


class TestCallbacks:
    def test_campaign_calls_are_signed_with_the_secret_of_the_key_that_created_it(
            self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        key, _ = api_keys.create_api_key(sessions, "campaigns")
        spec = parse_campaign_request({"name": "signed", "max_lines": 3}, trunks, None)
        cid = campaigns.create_campaign(sessions, spec, key.id).id
        upload(sessions, cid, "to\n09121000001\n")
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        Hopper(sessions, trunks, POLICY).run(None, MONDAY_10_TEHRAN)
        [call] = calls(sessions, cid)
        assert call.api_key_id == key.id  # placed by it, for the audit trail
        with sessions() as session:
            assert signing_secret(session, call.id) == key.callback_secret
            # ... but not counted against the key's own concurrent-call limit
            assert CallRepository(session).count_active(key.id) == 0


    def test_lifecycle_events_go_to_the_campaigns_callback_url_signed_with_its_key(
            self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        key, _ = api_keys.create_api_key(sessions, "campaigns")
        spec = parse_campaign_request({"name": "hooked", "max_lines": 3,
                                       "status_callback": "https://hooks.example.com/c"},
                                      trunks, None)
        cid = campaigns.create_campaign(sessions, spec, key.id).id
        upload(sessions, cid, "to\n09121000001\n")
        hopper = Hopper(sessions, trunks, POLICY, upload_grace=timedelta(0))
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        campaigns.change_status(sessions, cid, "pause", MONDAY_10_TEHRAN)
        campaigns.change_status(sessions, cid, "resume", MONDAY_10_TEHRAN)
        hopper.run(None, MONDAY_10_TEHRAN)
        end_calls(sessions, cid, "completed", "answered", MONDAY_10_TEHRAN)
        hopper.run(None, MONDAY_10_TEHRAN)
        with sessions() as session:
            rows = list(session.scalars(select(CallbackDeliveryRow)
                                        .where(CallbackDeliveryRow.campaign_id == cid)
                                        .order_by(CallbackDeliveryRow.sequence)))
            assert [(r.sequence, r.event) for r in rows] == [
                (1, "campaign.started"), (2, "campaign.paused"), (3, "campaign.resumed"),
                (4, "campaign.completed")]
            done = rows[-1].payload["campaign"]
            assert done["status"] == "completed" and done["progress"] == 1.0
            assert done["outcomes"] == {"answered": 1}
            assert campaign_secret(session, cid) == key.callback_secret


class TestPauseCancelAndTheDialGuard:
    def _dial(self, sessions, call_id, now, cap=None) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
        originated: list[str] = []

        class Port:
            def originate(self, request) -> None:  # type: ignore[no-untyped-def]
                originated.append(request.channel)

            def hangup(self, channel: str, cause: int = 16) -> bool:
                return True

        result = dial_call(sessions, call_id, lambda trunk: Port(), OriginateTarget(),
                           guard=DialGuard(cap or NumberCap()), clock=lambda: now)
        return result, originated

    def test_pause_withdraws_queued_calls_and_resume_redials_them_later(
            self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        cid = make_campaign(sessions, trunks)
        upload(sessions, cid, "to\n09121000001\n09121000002\n")
        hopper = Hopper(sessions, trunks, POLICY)
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        hopper.run(None, MONDAY_10_TEHRAN)
        queued = calls(sessions, cid)
        change = campaigns.change_status(sessions, cid, "pause", MONDAY_10_TEHRAN)
        assert {c for c, _ in change.withdrawn} == {c.id for c in queued}
        # A task already in Celery when the pause landed: the guard refuses it.
        assert self._dial(sessions, queued[0].id, MONDAY_10_TEHRAN) == ("skipped", [])
        hopper.run(None, MONDAY_10_TEHRAN)
        assert {c.state for c in contacts(sessions, cid).values()} == {"pending"}
        assert {c.attempts for c in contacts(sessions, cid).values()} == {0}
        campaigns.change_status(sessions, cid, "resume", MONDAY_10_TEHRAN)
        assert len(hopper.run(None, MONDAY_10_TEHRAN).queued) == 2

    def test_a_call_queued_before_the_pause_is_refused_at_dial_time(
            self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        cid = make_campaign(sessions, trunks, dnc_lists=[])
        upload(sessions, cid, "to\n09121000001\n")
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        Hopper(sessions, trunks, POLICY).run(None, MONDAY_10_TEHRAN)
        call = calls(sessions, cid)[0]
        with sessions.begin() as session:  # paused without the withdraw step (a race)
            session.execute(update(CampaignRow).where(CampaignRow.id == cid)
                            .values(status="paused"))
        result, originated = self._dial(sessions, call.id, MONDAY_10_TEHRAN)
        assert (result, originated) == ("withdrawn", [])
        assert calls(sessions, cid)[0].outcome == "campaign-paused"

    def test_the_guard_rechecks_the_window_and_the_dnc_list_at_dial_time(
            self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        campaigns.create_dnc_list(sessions, "late", None)
        cid = make_campaign(sessions, trunks, dnc_lists=["late"], windows=[
            {"days": ["mon"], "start": "09:00", "end": "11:00"}])
        upload(sessions, cid, "to\n09121000001\n09121000002\n09121000003\n")
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        Hopper(sessions, trunks, POLICY).run(None, MONDAY_10_TEHRAN)
        first, second, third = calls(sessions, cid)
        campaigns.add_dnc_numbers(sessions, "late", [first.to_number], POLICY)
        assert self._dial(sessions, first.id, MONDAY_10_TEHRAN)[0] == "withdrawn"
        late = MONDAY_10_TEHRAN + timedelta(hours=1, minutes=1)  # 11:01 in Tehran
        assert self._dial(sessions, second.id, late)[0] == "withdrawn"
        result, originated = self._dial(sessions, third.id, MONDAY_10_TEHRAN)
        assert result == "dialed" and len(originated) == 1
        hopper = Hopper(sessions, trunks, POLICY)
        hopper.run(None, late)
        state = contacts(sessions, cid)
        assert (state[first.to_number].state, state[first.to_number].outcome) == ("skipped",
                                                                                  "dnc")
        assert state[second.to_number].state == "pending"
        assert state[second.to_number].attempts == 0
        # next Monday 09:00 Tehran
        assert state[second.to_number].next_attempt_at == datetime(2026, 12, 7, 5, 30,
                                                                   tzinfo=UTC)

    def test_cancel_stops_everything(self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        cid = make_campaign(sessions, trunks)
        upload(sessions, cid, "to\n" + "".join(f"0912100000{i}\n" for i in range(1, 9)))
        hopper = Hopper(sessions, trunks, POLICY)
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        hopper.run(None, MONDAY_10_TEHRAN)
        first = calls(sessions, cid)[0]
        campaigns.change_status(sessions, cid, "cancel", MONDAY_10_TEHRAN)
        assert self._dial(sessions, first.id, MONDAY_10_TEHRAN)[0] == "skipped"
        hopper.run(None, MONDAY_10_TEHRAN)
        assert hopper.run(None, MONDAY_10_TEHRAN).queued == []
        assert {c.state for c in contacts(sessions, cid).values()} == {"canceled"}
        with pytest.raises(Conflict):
            campaigns.change_status(sessions, cid, "resume", MONDAY_10_TEHRAN)

    def test_number_cap_counts_dials_across_campaigns(self, sessions, trunks) -> None:  # type: ignore[no-untyped-def]
        cap = NumberCap(limit=1, window=timedelta(hours=1))
        now = datetime.now(tz=UTC)  # claims are stamped by the database clock, today's
        ids = []
        for _ in range(2):
            cid = make_campaign(sessions, trunks)
            upload(sessions, cid, "to\n09121000001\n", at=now)
            campaigns.change_status(sessions, cid, "start", now)
            ids.append(cid)
        Hopper(sessions, trunks, POLICY, cap).run(None, now)
        first, second = (calls(sessions, cid)[0] for cid in ids)
        assert self._dial(sessions, first.id, now, cap)[0] == "dialed"
        assert self._dial(sessions, second.id, now, cap)[0] == "withdrawn"
        Hopper(sessions, trunks, POLICY, cap).run(None, now)
        waiting = contacts(sessions, ids[1])["+989121000001"]
        assert waiting.state == "pending"
        assert waiting.next_attempt_at > now + timedelta(minutes=59)
