"""Cancelling a call: a queued call is never dialled, a dialling one is hung up (and ends
completed if it had been answered)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import CallRow
from dispatcher.domain.errors import Conflict, NotFound, ServiceUnavailable
from dispatcher.domain.status import CallStatus
from dispatcher.usecases.admission import Admissions
from dispatcher.usecases.callback_outbox import queue_callback

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CancelResult:
    call: CallRow
    needs_hangup: bool


def cancel_call(sessions: Sessions, call_id: uuid.UUID,
                by_key: uuid.UUID | None = None) -> CancelResult:
    """Cancel a queued call outright; flag a dialling one so its hangup is recorded as
    ``canceled``; refuse a finished one. The key that asked is kept for the audit trail."""
    with sessions.begin() as session:
        repo = CallRepository(session)
        if repo.cancel_if_queued(call_id, by_key):
            canceled = repo.get(call_id, for_update=True)
            assert canceled is not None
            session.refresh(canceled)
            queue_callback(session, canceled, "completed")
            return CancelResult(canceled, needs_hangup=False)
        row = repo.get(call_id, for_update=True)
        if row is None:
            raise NotFound("no such call")
        if CallStatus(row.status).is_final:
            raise Conflict(f"the call is already {row.status}")
        if row.cancel_requested_at is None:
            row.cancel_requested_at = datetime.now(tz=UTC)
            row.canceled_by_key_id = by_key
        return CancelResult(row, needs_hangup=True)


@dataclass(frozen=True)
class Canceller:
    """The whole cancel: record it, then free the call's place in line or have a worker hang
    it up. ``hangup`` queues the hangup task for a call on a trunk."""

    sessions: Sessions
    admissions: Admissions
    hangup: Callable[[uuid.UUID, str], None]

    def cancel(self, call_id: uuid.UUID, by_key: uuid.UUID | None = None) -> CancelResult:
        result = cancel_call(self.sessions, call_id, by_key)
        call = result.call
        if result.needs_hangup:
            try:
                self.hangup(call.id, call.trunk)
            except Exception as exc:
                # The cancel is recorded; asking again re-sends the hangup (it is idempotent).
                raise ServiceUnavailable("the cancel is recorded but the hangup could not be "
                                         "queued; retry the request") from exc
            return result
        try:
            self.admissions.release(call.id, call.trunk)
        except Exception:
            # Harmless: if the call is ever admitted, the worker sees it canceled and lets go.
            logger.warning("call %s canceled; its place in line is freed later", call.id)
        return result
