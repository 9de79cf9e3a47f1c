"""A campaign's counts come from tallies kept as its contacts change (migration 0012): they
always equal counting the contacts, through uploads, dialling, retries, a cancel and the
folding of old tallies."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.bookkeeping import ContactTallyRow
from dispatcher.adapters.db.campaigns import CampaignRepository
from dispatcher.adapters.db.tables import ContactRow
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases import campaigns
from dispatcher.usecases.hopper import Hopper
from dispatcher.usecases.retention import RetentionPolicy, purge
from tests.support.campaign_scenario import (
    MONDAY_10_TEHRAN,
    POLICY,
    end_calls,
    make_campaign,
    upload,
)


def counted(sessions: sessionmaker[Session], cid: uuid.UUID) -> tuple[dict[str, int],
                                                                       dict[str, int]]:
    with sessions() as session:
        states = {s: int(n) for s, n in session.execute(
            select(ContactRow.state, func.count()).where(ContactRow.campaign_id == cid)
            .group_by(ContactRow.state))}
        outcomes = {o or "unknown": int(n) for o, n in session.execute(
            select(ContactRow.outcome, func.count()).where(
                ContactRow.campaign_id == cid, ContactRow.state.in_(("done", "skipped")))
            .group_by(ContactRow.outcome))}
    return states, outcomes


def tallied(sessions: sessionmaker[Session], cid: uuid.UUID) -> tuple[dict[str, int],
                                                                       dict[str, int]]:
    with sessions() as session:
        repo = CampaignRepository(session)
        return repo.contact_counts(cid), repo.outcome_counts(cid)


def test_tallies_match_the_contacts_at_every_step(sessions: sessionmaker[Session],
                                                  trunks: TrunkTable) -> None:
    cid = make_campaign(sessions, trunks, retry={"busy": {"max_attempts": 2, "delay": 60}})
    other = make_campaign(sessions, trunks)
    upload(sessions, cid, "to\n" + "".join(f"0912100{i:04d}\n" for i in range(1, 11)))
    upload(sessions, cid, "to\n09121000001\n09121009999\nnot-a-number\n")  # one duplicate
    upload(sessions, other, "to\n09122000001\n")
    assert tallied(sessions, cid) == counted(sessions, cid) == ({"pending": 11}, {})
    hopper = Hopper(sessions, trunks, POLICY)
    now = MONDAY_10_TEHRAN
    campaigns.change_status(sessions, cid, "start", now)
    hopper.run(None, now)
    assert tallied(sessions, cid) == counted(sessions, cid)
    end_calls(sessions, cid, "busy", "busy", now)
    hopper.run(None, now)  # settles: the busy ones wait for their retry
    assert tallied(sessions, cid) == counted(sessions, cid)
    later = now + timedelta(minutes=2)
    hopper.run(None, later)
    end_calls(sessions, cid, "completed", "answered", later)
    hopper.run(None, later)
    assert tallied(sessions, cid) == counted(sessions, cid)
    assert tallied(sessions, cid)[1]  # some finished, with their outcomes
    campaigns.change_status(sessions, cid, "cancel", later)
    hopper.run(None, later)
    states, outcomes = counted(sessions, cid)
    assert tallied(sessions, cid) == (states, outcomes) and states.get("canceled")
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(ContactTallyRow))
    purge(sessions, RetentionPolicy(event_days=0), later + timedelta(hours=1))
    with sessions() as session:
        after = session.scalar(select(func.count()).select_from(ContactTallyRow))
    assert after is not None and before is not None and after < before
    assert tallied(sessions, cid) == (states, outcomes)
    assert tallied(sessions, other) == ({"pending": 1}, {})
