"""The last checks before a call is claimed for dialling, made in the claim's transaction.

A campaign call was queued by the hopper some time ago; by now the campaign may be paused or
canceled, the contact's call window may have closed, the number may be on a do-not-call list,
or it may have been called too often lately. Checking here, under the campaign's row lock
(shared; pause and cancel take it exclusively), is what makes "pause stops new dials" and
"never dial a DNC number" exact rather than eventually true.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dispatcher.adapters.db import dial_checks
from dispatcher.adapters.db.campaigns import CampaignRepository
from dispatcher.adapters.db.dial_queries import DialCall
from dispatcher.adapters.db.dnc import DncRepository
from dispatcher.domain.call_windows import parse_windows
from dispatcher.domain.campaign_rules import (
    WITHDRAWN_CANCELED,
    WITHDRAWN_CAP,
    WITHDRAWN_DNC,
    WITHDRAWN_PAUSED,
    WITHDRAWN_WINDOW,
)
from dispatcher.domain.status import CallStatus


@dataclass(frozen=True)
class NumberCap:
    """At most ``limit`` dials of one number per sliding ``window``, across all campaigns and
    API calls (0: no cap)."""

    limit: int = 0
    window: timedelta = timedelta(days=1)

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def next_allowed(self, session: Session, numbers: list[str],
                     now: datetime) -> dict[str, datetime]:
        """The numbers that reached the cap, each with the moment a dial frees up."""
        if not self.enabled or not numbers:
            return {}
        seen = dial_checks.recent_dials(session, numbers, now - self.window)
        return {n: times[self.limit - 1] + self.window
                for n, times in seen.items() if len(times) >= self.limit}

    def exceeded(self, session: Session, number: str, now: datetime) -> bool:
        """Whether one more dial now would break the cap; serialised per number with an
        advisory lock, so two workers cannot both take the last dial."""
        if not self.enabled:
            return False
        dial_checks.lock_number(session, number)
        return dial_checks.dials_since(session, number, now - self.window) >= self.limit


@dataclass(frozen=True)
class DialGuard:
    cap: NumberCap = NumberCap()

    def checks(self, call: DialCall) -> bool:
        """Whether this call has anything to check: an API call with no number cap has not,
        and is claimed without a session (see :mod:`dispatcher.adapters.db.dial_queries`)."""
        return call.campaign_id is not None or self.cap.enabled

    def refusal(self, session: Session, call: DialCall, now: datetime) -> str | None:
        """Why this call must not be dialled now, or None. Campaign calls are checked against
        their campaign; every call against the number cap."""
        if call.campaign_id is not None:
            reason = self._campaign_refusal(session, call, now)
            if reason:
                return reason
        if self.cap.exceeded(session, call.to_number, now):
            return WITHDRAWN_CAP
        return None

    def _campaign_refusal(self, session: Session, call: DialCall, now: datetime) -> str | None:
        assert call.campaign_id is not None
        repo = CampaignRepository(session)
        campaign = repo.get(call.campaign_id, lock="share")
        if campaign is None or campaign.status == "canceled":
            return WITHDRAWN_CANCELED
        if campaign.status != "running":
            return WITHDRAWN_PAUSED
        contact_tz = None
        if call.contact_id is not None:
            contact_tz = dial_checks.contact_timezone(session, call.contact_id)
        if not parse_windows(campaign.windows).allows(now, contact_tz or campaign.timezone):
            return WITHDRAWN_WINDOW
        if DncRepository(session).on_lists(campaign.dnc_lists, [call.to_number]):
            return WITHDRAWN_DNC
        return None


def withdraw(session: Session, call_id: uuid.UUID, reason: str, *, campaign: bool) -> bool:
    """Close a call that was never claimed. A campaign call is simply taken back (its contact
    is settled by the hopper, and it is not an attempt); an API call fails with the reason."""
    status = CallStatus.CANCELED if campaign else CallStatus.FAILED
    return dial_checks.close_unclaimed(session, call_id, status, reason)
