"""A campaign's call counts come from tallies kept as its calls change (migration 0013): they
always equal counting the calls (attempts, and calls still queued), through the hopper's
inserts, a worker's claim, the event consumer's writes, a pause that takes calls back, the
purge deleting old calls and the folding of the tallies. The clock is the scenario's, not
today's."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.bookkeeping import CallTallyRow, ContactTallyRow
from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.campaigns import CampaignRepository
from dispatcher.adapters.db.engine import make_engine, make_session_factory
from dispatcher.adapters.db.migrate import upgrade
from dispatcher.adapters.db.tables import CallRow, CampaignRow
from dispatcher.devstack.embedded import EmbeddedPostgres
from dispatcher.domain.status import CallStatus
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


def counted(sessions: sessionmaker[Session], cid: uuid.UUID) -> dict[str, int]:
    """What the read used to compute: the campaign's attempts and queued calls by status."""
    with sessions() as session:
        return {s: int(n) for s, n in session.execute(
            select(CallRow.status, func.count())
            .where(CallRow.campaign_id == cid,
                   CallRow.attempt_id.is_not(None) | (CallRow.status == "queued"))
            .group_by(CallRow.status))}


def tallied(sessions: sessionmaker[Session], cid: uuid.UUID) -> dict[str, int]:
    with sessions() as session:
        return CampaignRepository(session).call_counts(cid)


def tally_rows(sessions: sessionmaker[Session], table: type[CallTallyRow | ContactTallyRow],
               cid: uuid.UUID) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table)
                                  .where(table.campaign_id == cid)) or 0)


def claim_one(sessions: sessionmaker[Session], cid: uuid.UUID) -> uuid.UUID:
    """A worker claims one queued call (the claim's guarded UPDATE); returns its attempt."""
    attempt = uuid.uuid4()
    with sessions.begin() as session:
        call_id = session.scalar(select(CallRow.id).where(CallRow.campaign_id == cid,
                                                          CallRow.status == "queued").limit(1))
        session.execute(update(CallRow).where(CallRow.id == call_id,
                                              CallRow.status == "queued")
                        .values(status="initiated", attempt_id=attempt,
                                claimed_at=MONDAY_10_TEHRAN))
    return attempt


def consumer_writes(sessions: sessionmaker[Session], attempt: uuid.UUID,
                    status: CallStatus) -> None:
    """The event consumer's write path: lock the call, store its new state in one UPDATE."""
    with sessions.begin() as session:
        repo = CallRepository(session)
        locked = repo.lock_states([attempt])[attempt]
        repo.store_states({locked.id: replace(locked.state, status=status)})


def test_call_counts_match_the_calls_at_every_step(sessions: sessionmaker[Session],
                                                   trunks: TrunkTable) -> None:
    cid = make_campaign(sessions, trunks)
    other = make_campaign(sessions, trunks)
    upload(sessions, cid, "to\n" + "".join(f"0912100{i:04d}\n" for i in range(1, 11)))
    upload(sessions, other, "to\n09122000001\n")
    hopper = Hopper(sessions, trunks, POLICY)
    now = MONDAY_10_TEHRAN
    later = now + timedelta(days=1, hours=1)  # the other campaign's call: newer than the purge
    for campaign in (cid, other):
        campaigns.change_status(sessions, campaign, "start", now)
    hopper.run_campaign(other, later)
    hopper.run_campaign(cid, now)
    assert tallied(sessions, cid) == counted(sessions, cid) == {"queued": 3}
    assert tallied(sessions, other) == counted(sessions, other) == {"queued": 1}
    attempt = claim_one(sessions, cid)
    consumer_writes(sessions, attempt, CallStatus.RINGING)
    assert tallied(sessions, cid) == counted(sessions, cid) == {"queued": 2, "ringing": 1}
    campaigns.change_status(sessions, cid, "pause", now)  # the queued two are taken back
    assert tallied(sessions, cid) == counted(sessions, cid) == {"ringing": 1}
    campaigns.change_status(sessions, cid, "resume", now)
    hopper.run_campaign(cid, now)  # settles the two back to pending, feeds the free lines
    end_calls(sessions, cid, "busy", "busy", now)
    consumer_writes(sessions, attempt, CallStatus.COMPLETED)
    assert tallied(sessions, cid) == counted(sessions, cid) == {"busy": 2, "completed": 1}
    assert campaigns.view(sessions, cid, now).calls == counted(sessions, cid)
    campaigns.change_status(sessions, cid, "cancel", now)
    hopper.run_campaign(cid, now)

    # The purge deletes the canceled campaign's calls; the counts follow, and the folding
    # leaves at most one row per (campaign, status).
    gone = purge(sessions, RetentionPolicy(event_days=0, call_days=1), now + timedelta(days=2))
    assert gone.calls == 5  # the first three (two taken back by the pause), two more
    assert tallied(sessions, cid) == counted(sessions, cid) == {}
    assert tally_rows(sessions, CallTallyRow, cid) <= len(CallStatus)
    assert tallied(sessions, other) == counted(sessions, other) == {"queued": 1}


def test_calls_outside_a_campaign_are_not_tallied(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(CallRow(id=uuid.uuid4(), to_number="+989121231001", trunk="t",
                            ring_timeout=30, dial_string="PJSIP/09121231001@t", variables={},
                            status="queued", created_at=MONDAY_10_TEHRAN))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CallTallyRow)) == 0


def test_a_tick_writes_its_contacts_and_calls_in_one_statement_each(
        sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
    """Each statement on the contacts and the calls adds one tally row per state it changed:
    taking three contacts is one (pending -3, dialing +3) pair, not three, and queueing their
    three calls is one row."""
    cid = make_campaign(sessions, trunks)
    upload(sessions, cid, "to\n" + "".join(f"0912100{i:04d}\n" for i in range(1, 11)))
    campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
    contacts_before = tally_rows(sessions, ContactTallyRow, cid)
    assert len(Hopper(sessions, trunks, POLICY).run(None, MONDAY_10_TEHRAN).queued) == 3
    assert tally_rows(sessions, ContactTallyRow, cid) - contacts_before == 2
    assert tally_rows(sessions, CallTallyRow, cid) == 1
    end_calls(sessions, cid, "busy", "busy", MONDAY_10_TEHRAN)
    contacts_before = tally_rows(sessions, ContactTallyRow, cid)
    Hopper(sessions, trunks, POLICY).run(None, MONDAY_10_TEHRAN)  # settles three, takes three
    # Settled: dialing -3, done +3. Taken: pending -3, dialing +3.
    assert tally_rows(sessions, ContactTallyRow, cid) - contacts_before == 4


def test_the_migration_counts_the_calls_already_there(postgres: EmbeddedPostgres) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.create_database(name)
    url = postgres.url_for(name)
    upgrade(url, "0012")
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    cid = uuid.uuid4()
    try:
        with sessions.begin() as session:  # the tables these rows go to are as at head
            session.add(CampaignRow(id=cid, name="old", trunk="t", max_lines=3,
                                    status="running"))
            session.flush()
            session.add_all(CallRow(id=uuid.uuid4(), to_number=f"+98912100{i:04d}", trunk="t",
                                    ring_timeout=30, dial_string="x", variables={},
                                    status=status, campaign_id=cid,
                                    attempt_id=uuid.uuid4() if attempt else None)
                            for i, (status, attempt) in enumerate([
                                ("queued", False), ("completed", True), ("completed", True),
                                ("busy", True), ("canceled", False)]))
        upgrade(url)
        assert tallied(sessions, cid) == counted(sessions, cid) == {
            "queued": 1, "completed": 2, "busy": 1}
    finally:
        engine.dispose()
