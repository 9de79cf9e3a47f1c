"""What the API does to a campaign, each operation whole: create it, change its settings, move
it through its lifecycle, and what must follow outside the database (free the lines of the
calls a pause or cancel took back, wake the hopper rather than wait for its next tick)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.tasknames import RUN_HOPPER
from dispatcher.domain.campaign_requests import CampaignSpec
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases import campaigns
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.campaigns import CampaignView

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CampaignControl:
    sessions: Sessions
    admissions: Admissions
    hopper_queue: str

    def trunk_paused(self, trunk: str) -> bool:
        try:
            return self.admissions.usage(trunk).paused
        except Exception:  # Redis away: the view still answers, without this one reason
            return False

    def view(self, campaign_id: uuid.UUID) -> CampaignView:
        return campaigns.view(self.sessions, campaign_id, trunk_paused=self.trunk_paused)

    def page(self, status: str | None, limit: int,
             after: tuple[datetime, uuid.UUID] | None) -> list[CampaignView]:
        # Campaigns share trunks: ask Redis once per trunk, not once per campaign.
        return campaigns.page(self.sessions, status, limit, after,
                              trunk_paused=cache(self.trunk_paused))

    def create(self, spec: CampaignSpec, by_key: uuid.UUID | None) -> CampaignView:
        row = campaigns.create_campaign(self.sessions, spec, by_key)
        return self.view(row.id)

    def update(self, campaign_id: uuid.UUID, changes: dict[str, Any], trunks: TrunkTable, *,
               by_key: uuid.UUID | None) -> CampaignView:
        view = campaigns.update_campaign(self.sessions, campaign_id, changes, trunks,
                                         by_key=by_key)
        if view.row.status == "running":
            self.wake_hopper()  # more lines may be free now
        return view

    def change(self, campaign_id: uuid.UUID, action: str,
               by_key: uuid.UUID | None) -> CampaignView:
        change = campaigns.change_status(self.sessions, campaign_id, action, by_key=by_key)
        for call_id, trunk in change.withdrawn:
            try:
                self.admissions.release(call_id, trunk)
            except Exception:
                # Harmless: if admitted later, the worker finds the call closed and lets go.
                logger.warning("call %s withdrawn; its place in line is freed later", call_id)
        if change.view.row.status == "running":
            self.wake_hopper()
        return change.view

    def wake_hopper(self) -> None:
        """Start dialling now rather than at the next beat tick (best effort)."""
        try:
            self.admissions.sender.send(RUN_HOPPER, [], self.hopper_queue)
        except Exception as exc:
            logger.warning("could not wake the hopper (%s); the next tick will run it",
                           type(exc).__name__)
