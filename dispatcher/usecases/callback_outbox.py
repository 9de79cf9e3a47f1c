"""Write status-callback deliveries in the same transaction as the change they report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from dispatcher.adapters.db.callbacks import CallbackRepository
from dispatcher.adapters.db.tables import CallbackDeliveryRow, CallRow, CampaignRow
from dispatcher.domain.callbacks import event_for
from dispatcher.domain.status import CallStatus
from dispatcher.usecases.call_json import call_json


def queue_callback(session: Session, row: CallRow, event: str) -> None:
    """Add the delivery of ``event`` for ``row`` if the call asked for it. ``row`` must be
    loaded in ``session`` (and, under concurrency, locked) so the sequence cannot repeat."""
    if not row.status_callback or event not in (row.callback_events or "").split():
        return
    row.callback_seq = (row.callback_seq or 0) + 1
    event_id = uuid.uuid4()
    payload = {"event_id": str(event_id), "event": event, "sequence": row.callback_seq,
               "timestamp": datetime.now(tz=UTC).isoformat(), "call": call_json(row)}
    CallbackRepository(session).add(CallbackDeliveryRow(
        call_id=row.id, sequence=row.callback_seq, event=event, event_id=event_id,
        url=row.status_callback, payload=payload, state="pending", attempts=0))


CAMPAIGN_EVENTS = {"start": "campaign.started", "pause": "campaign.paused",
                   "resume": "campaign.resumed", "cancel": "campaign.canceled",
                   "complete": "campaign.completed"}


def queue_campaign_event(session: Session, campaign: CampaignRow, action: str,
                         body: dict[str, Any]) -> None:
    """Add a lifecycle callback for a campaign that has a ``status_callback``; ``campaign``
    must be locked in ``session`` so its sequence cannot repeat."""
    event = CAMPAIGN_EVENTS.get(action)
    if event is None or not campaign.status_callback:
        return
    campaign.callback_seq = (campaign.callback_seq or 0) + 1
    event_id = uuid.uuid4()
    payload = {"event_id": str(event_id), "event": event, "sequence": campaign.callback_seq,
               "timestamp": datetime.now(tz=UTC).isoformat(), "campaign": body}
    CallbackRepository(session).add(CallbackDeliveryRow(
        campaign_id=campaign.id, sequence=campaign.callback_seq, event=event,
        event_id=event_id, url=campaign.status_callback, payload=payload, state="pending",
        attempts=0))


def queue_change(session: Session, row: CallRow, old: CallStatus) -> None:
    """Queue the callback a status change stands for, if any."""
    event = event_for(old, CallStatus(row.status))
    if event:
        queue_callback(session, row, event)
