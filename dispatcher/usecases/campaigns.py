"""Campaign use cases: create, change settings, start/pause/resume/cancel, read progress.
Plain functions with their dependencies passed in, like the other use cases.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from dispatcher.adapters.db.campaigns import CampaignRepository
from dispatcher.adapters.db.dnc import DncRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import CampaignRow
from dispatcher.domain.call_windows import parse_windows
from dispatcher.domain.campaign_activity import Activity, Schedule, activity, eta_seconds
from dispatcher.domain.campaign_requests import (
    CampaignSpec,
    update_columns,
)
from dispatcher.domain.campaign_rules import (
    WITHDRAWN_CANCELED,
    WITHDRAWN_PAUSED,
    CampaignStatus,
    transition,
)
from dispatcher.domain.errors import Conflict, NotFound, ValidationFailed
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases.callback_outbox import queue_campaign_event
from dispatcher.usecases.campaign_json import campaign_json

logger = logging.getLogger(__name__)
RATE_WINDOW = timedelta(minutes=5)


def _locked(repo: CampaignRepository, campaign_id: uuid.UUID) -> CampaignRow:
    row = repo.get(campaign_id, lock="update")
    if row is None:
        raise NotFound("no such campaign")
    return row


def _require_lists(session: Session, names: Sequence[str]) -> None:
    """Every do-not-call list a campaign names must exist (a typo would dial everyone)."""
    missing = set(names) - DncRepository(session).existing(names)
    if missing:
        raise ValidationFailed(f"dnc_lists: no list named {sorted(missing)[0]!r}",
                               field="dnc_lists")


def create_campaign(sessions: Sessions, spec: CampaignSpec,
                    api_key_id: uuid.UUID | None) -> CampaignRow:
    with sessions.begin() as session:
        _require_lists(session, spec.dnc_lists)
        row = CampaignRow(
            id=uuid.uuid4(), api_key_id=api_key_id, name=spec.name, status="draft",
            trunk=spec.trunk, caller_id=spec.caller_id, max_lines=spec.max_lines, cps=spec.cps,
            ring_timeout=spec.timeout, priority=spec.priority, target=spec.target,
            variables=spec.variables, retry=spec.retry.as_json(),
            windows=spec.windows.as_json(), timezone=spec.timezone,
            dnc_lists=list(spec.dnc_lists), status_callback=spec.status_callback,
            callback_events=" ".join(spec.callback_events),
        )
        repo = CampaignRepository(session)
        repo.add(row)
        repo.note(row.id, "create", api_key_id, datetime.now(tz=UTC))
        session.refresh(row)
    return row


@dataclass(frozen=True)
class CampaignView:
    """A campaign with its progress, as clients see it."""

    row: CampaignRow
    contacts: dict[str, int]
    calls: dict[str, int]
    outcomes: dict[str, int]
    rate_per_minute: float
    eta_seconds: float | None
    activity: Activity

    @property
    def total(self) -> int:
        return sum(self.contacts.values())

    @property
    def progress(self) -> float:
        """The share of contacts that got their answer (done or skipped): contacts a cancel
        took back were never dialled, so a canceled draft is at 0, not 100%."""
        if self.total == 0:
            return 1.0 if self.row.status == "completed" else 0.0
        finished = self.contacts.get("done", 0) + self.contacts.get("skipped", 0)
        return round(finished / self.total, 4)


TrunkPaused = Callable[[str], bool]
"""Whether an operator paused a trunk (kept in Redis); without it, a trunk counts as not."""


def view(sessions: Sessions, campaign_id: uuid.UUID, now: datetime | None = None, *,
         trunk_paused: TrunkPaused | None = None) -> CampaignView:
    now = now or datetime.now(tz=UTC)
    with sessions() as session:
        repo = CampaignRepository(session)
        row = repo.get(campaign_id)
        if row is None:
            raise NotFound("no such campaign")
        return campaign_view(repo, row, now, trunk_paused)


def campaign_view(repo: CampaignRepository, row: CampaignRow, now: datetime,
                  trunk_paused: TrunkPaused | None = None) -> CampaignView:
    contacts = repo.contact_counts(row.id)
    for state in ("pending", "dialing", "done", "skipped", "canceled"):
        contacts.setdefault(state, 0)
    # The measured rate: contacts finished over the last few minutes of this run.
    since = max(now - RATE_WINDOW, row.started_at or now)
    minutes = (now - since).total_seconds() / 60
    finished = repo.finished_since(row.id, since) if minutes > 0 else 0
    rate = finished / minutes if minutes >= 1 / 6 else 0.0
    schedule = Schedule(contacts["pending"], contacts["dialing"], 0, None, None)
    if row.status == "running" and contacts["pending"]:
        schedule = Schedule(contacts["pending"], contacts["dialing"],
                            *repo.pending_schedule(row.id, now))
    act = activity(row.status, schedule, parse_windows(row.windows), row.timezone, now,
                   paused_by=repo.last_actor(row.id, "pause") if row.status == "paused"
                   else None, paused_at=row.paused_at, trunk=row.trunk,
                   trunk_paused=row.status == "running" and trunk_paused is not None
                   and trunk_paused(row.trunk))
    return CampaignView(row, contacts, repo.call_counts(row.id), repo.outcome_counts(row.id),
                        round(rate, 2), eta_seconds(act, schedule, rate, now), act)


def page(sessions: Sessions, status: str | None, limit: int,
         after: tuple[datetime, uuid.UUID] | None, *,
         trunk_paused: TrunkPaused | None = None) -> list[CampaignView]:
    now = datetime.now(tz=UTC)
    with sessions() as session:
        repo = CampaignRepository(session)
        return [campaign_view(repo, row, now, trunk_paused)
                for row in repo.page(status, limit, after)]


def update_campaign(sessions: Sessions, campaign_id: uuid.UUID, changes: dict[str, Any],
                    trunks: TrunkTable, *, by_key: uuid.UUID | None = None,
                    now: datetime | None = None) -> CampaignView:
    """Change a campaign's settings while it is a draft, running or paused. ``changes`` holds
    the fields a client sent, each already checked by its rule. The hopper and the dial guard
    read them afresh every time, so a new line count, window or DNC list applies to the next
    call picked or claimed."""
    now = now or datetime.now(tz=UTC)
    with sessions.begin() as session:
        repo = CampaignRepository(session)
        row = _locked(repo, campaign_id)
        if CampaignStatus(row.status).is_final:
            raise Conflict(f"the campaign is {row.status}; it can no longer change")
        columns = update_columns(changes, trunks.get(row.trunk).lines)
        _require_lists(session, columns.get("dnc_lists") or [])
        for column, value in columns.items():
            setattr(row, column, value)
        row.updated_at = now
        repo.note(row.id, "update", by_key, now, {"changed": sorted(changes)})
        session.flush()
        return campaign_view(repo, row, now)


def live_views(sessions: Sessions, limit: int, *,
               trunk_paused: TrunkPaused | None = None) -> list[CampaignView]:
    """What an operator watches: running and paused campaigns, and any that ended within the
    last hour."""
    now = datetime.now(tz=UTC)
    with sessions() as session:
        repo = CampaignRepository(session)
        return [campaign_view(repo, row, now, trunk_paused)
                for row in repo.live(now - timedelta(hours=1), limit)]


@dataclass(frozen=True)
class StatusChange:
    view: CampaignView
    withdrawn: list[tuple[uuid.UUID, str]] = field(default_factory=list)


def change_status(sessions: Sessions, campaign_id: uuid.UUID, action: str,
                  now: datetime | None = None, by_key: uuid.UUID | None = None) -> StatusChange:
    """Move a campaign through its lifecycle. Pause and cancel take back every call not yet
    claimed by a worker, under the campaign's row lock: a claim checks the campaign under the
    same lock, so once this commits no call of the campaign can start dialling."""
    now = now or datetime.now(tz=UTC)
    with sessions.begin() as session:
        repo = CampaignRepository(session)
        row = _locked(repo, campaign_id)
        new = transition(CampaignStatus(row.status), action)
        withdrawn: list[tuple[uuid.UUID, str]] = []
        row.status = new.value
        row.updated_at = now
        if action == "start":
            row.started_at = now
        elif action == "pause":
            row.paused_at = now
            withdrawn = repo.withdraw_queued(row.id, WITHDRAWN_PAUSED)
        elif action == "resume":
            row.paused_at = None
        elif action == "cancel":
            row.ended_at = now
            withdrawn = repo.withdraw_queued(row.id, WITHDRAWN_CANCELED)
            repo.cancel_pending(row.id)
        repo.note(row.id, action, by_key, now,
                  {"withdrawn_calls": len(withdrawn)} if withdrawn else None)
        session.flush()
        result = StatusChange(campaign_view(repo, row, now), withdrawn)
        queue_campaign_event(session, row, action, campaign_json(result.view))
    logger.info("campaign %s: %s -> %s (%d queued call(s) withdrawn)", campaign_id, action,
                new.value, len(withdrawn))
    return result
