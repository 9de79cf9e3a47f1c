"""Status-callback deliveries: the outbox rows written with the change they report, claimed
for sending with a lease, and the secret each delivery is signed with."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dispatcher.adapters.db.tables import ApiKeyRow, CallbackDeliveryRow, CallRow, CampaignRow


class CallbackRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: CallbackDeliveryRow) -> None:
        self.session.add(row)

    def get(self, delivery_id: int, *, for_update: bool = False) -> CallbackDeliveryRow | None:
        return self.session.get(CallbackDeliveryRow, delivery_id, with_for_update=for_update)

    def of_call(self, call_id: uuid.UUID) -> list[CallbackDeliveryRow]:
        stmt = (select(CallbackDeliveryRow).where(CallbackDeliveryRow.call_id == call_id)
                .order_by(CallbackDeliveryRow.sequence))
        return list(self.session.scalars(stmt))

    def of_campaign(self, campaign_id: uuid.UUID) -> list[CallbackDeliveryRow]:
        stmt = (select(CallbackDeliveryRow)
                .where(CallbackDeliveryRow.campaign_id == campaign_id)
                .order_by(CallbackDeliveryRow.sequence))
        return list(self.session.scalars(stmt))

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[int]:
        """Take due deliveries for sending until ``lease_until``; rows another sender holds
        are skipped, and a crashed sender's claim lapses when its lease does."""
        ids = list(self.session.scalars(
            select(CallbackDeliveryRow.id)
            .where(CallbackDeliveryRow.state == "pending",
                   CallbackDeliveryRow.next_attempt_at <= now)
            .order_by(CallbackDeliveryRow.id).limit(limit).with_for_update(skip_locked=True)))
        if ids:
            self.session.execute(update(CallbackDeliveryRow)
                                 .where(CallbackDeliveryRow.id.in_(ids))
                                 .values(next_attempt_at=lease_until))
        return ids

    def call_secret(self, call_id: uuid.UUID) -> str | None:
        """The secret of the key that placed the call; a campaign's calls are signed with the
        secret of the key that created the campaign."""
        owner = (select(func.coalesce(CallRow.api_key_id, CampaignRow.api_key_id))
                 .outerjoin(CampaignRow, CampaignRow.id == CallRow.campaign_id)
                 .where(CallRow.id == call_id).scalar_subquery())
        return self.session.scalar(select(ApiKeyRow.callback_secret)
                                   .where(ApiKeyRow.id == owner))

    def campaign_secret(self, campaign_id: uuid.UUID | None) -> str | None:
        """A campaign's lifecycle callbacks are signed like its calls' callbacks."""
        return self.session.scalar(select(ApiKeyRow.callback_secret).join(
            CampaignRow, CampaignRow.api_key_id == ApiKeyRow.id)
            .where(CampaignRow.id == campaign_id))
