"""Pause, cancel and the dial-time guard against a real PostgreSQL: a call queued before the
campaign stopped, left its window, or reached a DNC list or the number cap is not dialled.
Time is a controlled clock passed in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.ami.originate import OriginateRequest
from dispatcher.adapters.db.tables import CampaignRow
from dispatcher.domain.errors import Conflict
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases import campaigns, dnc_lists
from dispatcher.usecases.dial_call import OriginateTarget, dial_call
from dispatcher.usecases.dial_guard import DialGuard, NumberCap
from dispatcher.usecases.hopper import Hopper
from tests.support.campaign_scenario import (
    MONDAY_10_TEHRAN,
    POLICY,
    calls,
    contacts,
    make_campaign,
    upload,
)


class TestPauseCancelAndTheDialGuard:
    def _dial(self, sessions: sessionmaker[Session], call_id: uuid.UUID, now: datetime,
              cap: NumberCap | None = None) -> tuple[str, list[str]]:
        originated: list[str] = []

        class Port:
            def originate(self, request: OriginateRequest) -> None:
                originated.append(request.channel)

            def hangup(self, channel: str, cause: int = 16) -> bool:
                return True

        result = dial_call(sessions, call_id, lambda trunk: Port(), OriginateTarget(),
                           guard=DialGuard(cap or NumberCap()), clock=lambda: now)
        return result, originated

    def test_pause_withdraws_queued_calls_and_resume_redials_them_later(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
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
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
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
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        dnc_lists.create_list(sessions, "late", None)
        cid = make_campaign(sessions, trunks, dnc_lists=["late"], windows=[
            {"days": ["mon"], "start": "09:00", "end": "11:00"}])
        upload(sessions, cid, "to\n09121000001\n09121000002\n09121000003\n")
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        Hopper(sessions, trunks, POLICY).run(None, MONDAY_10_TEHRAN)
        first, second, third = calls(sessions, cid)
        dnc_lists.add_numbers(sessions, "late", [first.to_number], POLICY)
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

    def test_cancel_stops_everything(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
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

    def test_number_cap_counts_dials_across_campaigns(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
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
