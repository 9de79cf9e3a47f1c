"""Reading calls back: one call, a filtered page of them, and what was recorded of one call
(its AMI events and its callback deliveries)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from dispatcher.adapters.db.call_events import CallEventRepository
from dispatcher.adapters.db.callbacks import CallbackRepository
from dispatcher.adapters.db.calls import CallFilter, CallRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import CallbackDeliveryRow, CallEventRow, CallRow
from dispatcher.domain.errors import NotFound

T = TypeVar("T")


def get_call(sessions: Sessions, call_id: uuid.UUID) -> CallRow:
    with sessions() as session:
        row = CallRepository(session).get(call_id)
    if row is None:
        raise NotFound("no such call")
    return row


def list_calls(sessions: Sessions, flt: CallFilter, limit: int,
               after: tuple[datetime, uuid.UUID] | None) -> tuple[list[CallRow], bool]:
    """Newest first, at most ``limit``, and whether there are more."""
    with sessions() as session:
        rows = CallRepository(session).page(flt, limit + 1, after)
    return rows[:limit], len(rows) > limit


def _of_call(sessions: Sessions, call_id: uuid.UUID,
             fetch: Callable[[CallRepository, uuid.UUID], list[T]]) -> list[T]:
    """Rows belonging to one call, read in one session (NotFound for an unknown call)."""
    with sessions() as session:
        repo = CallRepository(session)
        if repo.get(call_id) is None:
            raise NotFound("no such call")
        return fetch(repo, call_id)


def call_events(sessions: Sessions, call_id: uuid.UUID) -> list[CallEventRow]:
    """The AMI events recorded for the call, in the PBX's order."""
    return _of_call(sessions, call_id,
                    lambda repo, cid: CallEventRepository(repo.session).events(cid))


def call_callbacks(sessions: Sessions, call_id: uuid.UUID) -> list[CallbackDeliveryRow]:
    """The delivery log of the call's status callbacks, in sequence order."""
    return _of_call(sessions, call_id,
                    lambda repo, cid: CallbackRepository(repo.session).of_call(cid))
