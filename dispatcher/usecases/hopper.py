"""The hopper: feeds campaigns to line admission a few calls at a time.

A campaign never enqueues its whole list. Each run, under the campaign's row lock, the hopper
(1) settles contacts whose call has ended, scheduling retries in the database by the policy,
(2) tops the campaign up to its share of the trunk's lines with calls for due contacts whose
call window is open, skipping do-not-call numbers, and (3) completes a campaign with nothing
left to dial. It runs every second from Celery beat, and at once when a campaign call ends or a
campaign starts, so a freed line is refilled without waiting for the next tick.

Because a contact has at most one unfinished call and gets a new one only after the last is
settled, it is never dialled more often than its attempts allow, whatever crashes in between.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.campaigns import CampaignRepository
from dispatcher.adapters.db.contacts import ContactChange, ContactRepository, DueContact
from dispatcher.adapters.db.dnc import DncRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import CallRow, CampaignRow
from dispatcher.adapters.redis.capacity import CAMPAIGN
from dispatcher.domain.call_windows import Windows, parse_windows
from dispatcher.domain.campaign_rules import ContactState, after_call, parse_retry
from dispatcher.domain.numbers import InvalidNumber, NumberPolicy
from dispatcher.domain.status import CallStatus
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.callback_outbox import queue_campaign_event
from dispatcher.usecases.campaign_json import campaign_json
from dispatcher.usecases.campaigns import campaign_view
from dispatcher.usecases.dial_guard import NumberCap

logger = logging.getLogger(__name__)
MAX_ROUNDS = 10  # due contacts read per run: bounded, the next run goes on


@dataclass(frozen=True)
class Queued:
    call_id: uuid.UUID
    trunk: str
    priority: int
    created: datetime


@dataclass
class HopperRun:
    settled: int = 0
    queued: list[Queued] = field(default_factory=list)
    skipped: int = 0
    completed: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class Hopper:
    sessions: Sessions
    trunks: TrunkTable
    policy: NumberPolicy
    cap: NumberCap = NumberCap()
    # A campaign with nothing left completes only once its last upload is this old, so one
    # started while a chunked upload is still arriving is not cut off between two chunks.
    upload_grace: timedelta = timedelta(seconds=30)

    def run(self, admissions: Admissions | None, now: datetime | None = None) -> HopperRun:
        """One pass over every campaign with work; the calls it queued are handed to line
        admission after their rows are committed."""
        total = HopperRun()
        with self.sessions() as session:
            ids = CampaignRepository(session).active_ids()
        for campaign_id in ids:
            result = self.run_campaign(campaign_id, now or datetime.now(tz=UTC))
            total.settled += result.settled
            total.skipped += result.skipped
            total.completed += result.completed
            total.queued += result.queued
            if admissions is not None:
                _enqueue(admissions, result.queued)
        return total

    def run_campaign(self, campaign_id: uuid.UUID, now: datetime) -> HopperRun:
        result = HopperRun()
        with self.sessions.begin() as session:
            repo = CampaignRepository(session)
            campaign = repo.get(campaign_id, lock="update")
            if campaign is None:
                return result
            contacts = ContactRepository(session)
            result.settled = _settle(contacts, campaign, now)
            if campaign.status != "running":
                return result
            self._feed(session, repo, campaign, now, result)
            if not result.queued and not contacts.any_left(campaign.id) \
                    and not contacts.uploaded_since(campaign.id, now - self.upload_grace):
                campaign.status = "completed"
                campaign.ended_at = campaign.updated_at = now
                repo.note(campaign.id, "complete", None, now)
                session.flush()
                queue_campaign_event(session, campaign, "complete",
                                     campaign_json(campaign_view(repo, campaign, now)))
                result.completed.append(campaign.id)
                logger.info("campaign %s completed", campaign.id)
        return result

    def _allowance(self, repo: CampaignRepository, campaign: CampaignRow,
                   now: datetime) -> int:
        """How many more calls the campaign may have unfinished: its lines, or its share of
        the trunk when running campaigns ask for more lines than the trunk has."""
        lines = self.trunks.get(campaign.trunk).lines
        share = campaign.max_lines
        asked = repo.running_lines(campaign.trunk)
        if asked > lines:
            share = max(1, lines * campaign.max_lines // asked)
        allowance = share - ContactRepository(repo.session).dialing(campaign.id)
        if campaign.cps:
            # A budget per window of at least a second: 0.5 cps is one call per 2 s.
            window = max(1.0, 1.0 / campaign.cps)
            budget = max(1, math.floor(campaign.cps * window))
            recent = repo.created_since(campaign.id, now - timedelta(seconds=window))
            allowance = min(allowance, budget - recent)
        return max(0, allowance)

    def _feed(self, session: Session, repo: CampaignRepository, campaign: CampaignRow,
              now: datetime, result: HopperRun) -> None:
        """Read due contacts a batch at a time and take them: each batch's changes to the
        contacts go back in one statement, written before the next batch is read."""
        allowance = self._allowance(repo, campaign, now)
        windows = parse_windows(campaign.windows)
        contacts = ContactRepository(session)
        for _ in range(MAX_ROUNDS):
            if allowance <= 0:
                return
            due = contacts.due(campaign.id, now, limit=max(2 * allowance, 100))
            if not due:
                return
            numbers = [c.to_number for c in due]
            blocked = DncRepository(session).on_lists(campaign.dnc_lists, numbers)
            capped = self.cap.next_allowed(session, numbers, now)
            changes: list[ContactChange] = []
            calls: list[CallRow] = []
            for contact in due:
                if allowance <= 0:
                    break
                if contact.to_number in blocked:
                    changes.append(_finish(contact, ContactState.SKIPPED, "dnc", now))
                    result.skipped += 1
                elif (opens := self._closed(windows, campaign, contact, now)) is not None:
                    changes.append(ContactChange(contact.id, next_attempt_at=opens))
                elif contact.to_number in capped:
                    changes.append(ContactChange(contact.id,
                                                 next_attempt_at=capped[contact.to_number]))
                else:
                    change, call = self._queue(campaign, contact, now)
                    changes.append(change)
                    if call is not None:
                        calls.append(call)
                        result.queued.append(Queued(call.id, call.trunk, call.priority, now))
                        allowance -= 1
            # The batch's new calls in one statement (their tallies, migration 0013, once),
            # then its contacts in another.
            CallRepository(session).add_many(calls)
            contacts.apply(changes)

    @staticmethod
    def _closed(windows: Windows, campaign: CampaignRow, contact: DueContact,
                now: datetime) -> datetime | None:
        """When the contact's call window opens, if it is closed now: outside its window a
        contact waits, and is not looked at again until it opens."""
        tz = contact.timezone or campaign.timezone
        if windows.allows(now, tz):
            return None
        return windows.next_open(now, tz) or now + timedelta(days=1)

    def _queue(self, campaign: CampaignRow, contact: DueContact,
               now: datetime) -> tuple[ContactChange, CallRow | None]:
        """The contact's new call (not yet stored) and the contact's change: dialing with that
        call, or done when its number can no longer be dialled."""
        trunk = self.trunks.get(campaign.trunk)
        try:
            dial_string = self.policy.dial_string(self.policy.parse(contact.to_number),
                                                  trunk.dial_template)
        except InvalidNumber:
            # The number rules changed since the upload (a region no longer allowed).
            return _finish(contact, ContactState.DONE, "invalid-number", now), None
        call = CallRow(
            # Placed by the key that created the campaign (the audit trail says so), but not
            # counted against its concurrent-call limit: max_lines governs campaign calls.
            id=uuid.uuid4(), api_key_id=campaign.api_key_id, to_number=contact.to_number,
            dial_string=dial_string,
            caller_id=campaign.caller_id, ring_timeout=campaign.ring_timeout,
            trunk=campaign.trunk, priority=campaign.priority, source="campaign",
            variables={**(campaign.variables or {}), **(contact.variables or {})},
            call_metadata=contact.metadata, status=CallStatus.QUEUED.value,
            status_callback=campaign.status_callback, callback_events=campaign.callback_events,
            campaign_id=campaign.id, contact_id=contact.id,
            originate_target=campaign.target, created_at=now, updated_at=now,
            published_at=now,
        )
        return ContactChange(contact.id, state=ContactState.DIALING.value, last_call_id=call.id,
                             last_attempt_at=now, updated_at=now), call


def _settle(contacts: ContactRepository, campaign: CampaignRow, now: datetime) -> int:
    """Move contacts whose call ended to their next state (retry, done, back to pending), all
    in one statement."""
    finished = contacts.finished_calls(campaign.id)
    if not finished:
        return 0
    policy = parse_retry(campaign.retry or None)
    changes = []
    for contact in finished:
        step = after_call(policy, contact.attempts, contact.status, contact.outcome,
                          claimed=contact.claimed, ended_at=contact.ended_at, now=now,
                          campaign_canceled=campaign.status == "canceled")
        changes.append(ContactChange(contact.id, state=step.state.value, outcome=step.outcome,
                                     attempts_added=1 if step.counts_as_attempt else 0,
                                     next_attempt_at=step.next_attempt_at, updated_at=now))
    contacts.apply(changes)
    return len(finished)


def _finish(contact: DueContact, state: ContactState, outcome: str,
            now: datetime) -> ContactChange:
    return ContactChange(contact.id, state=state.value, outcome=outcome, updated_at=now)


def _enqueue(admissions: Admissions, queued: list[Queued]) -> None:
    for call in queued:
        try:
            admissions.enqueue(call.call_id, call.trunk, priority=call.priority,
                               created=call.created, source=CAMPAIGN)
        except Exception:
            # The rows are committed as queued: the sweeper puts them in line later.
            logger.exception("call %s: enqueue failed; left for the sweeper", call.call_id)
