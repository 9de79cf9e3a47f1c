"""The dial use case: at most one Originate per call, whatever the task queue does.

Celery over Redis can deliver a task twice (visibility timeout, connection loss, a restored
message) and the AMI can fail after our bytes left. So: claim the row in PostgreSQL first
(a guarded UPDATE only one delivery can win), originate with the attempt UUID as ActionID and
ChannelId, and when the outcome is unknown, record that and leave it to the reconciler rather
than dial again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session

from dispatcher.adapters.ami.errors import AMIActionFailed, AMIOutcomeUnknown, AMIUnavailable
from dispatcher.adapters.ami.originate import InvalidOriginate, OriginateRequest
from dispatcher.adapters.ami.protocol import UnsafeAMIValue
from dispatcher.adapters.db import dial_checks
from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.dial_queries import DialCall, claim_call, load_call, mark_dialed
from dispatcher.adapters.db.engine import Sessions, engine_of, raw_cursor, raw_transaction
from dispatcher.adapters.db.tables import CallRow
from dispatcher.config import Settings
from dispatcher.devstack.faults import checkpoint
from dispatcher.domain.clock import Clock, utcnow
from dispatcher.domain.status import CallStatus
from dispatcher.usecases.callback_outbox import queue_callback
from dispatcher.usecases.dial_guard import DialGuard, withdraw

logger = logging.getLogger(__name__)


class DialPort(Protocol):
    def originate(self, request: OriginateRequest) -> None: ...
    def hangup(self, channel: str, cause: int = 16) -> bool: ...


@dataclass(frozen=True)
class OriginateTarget:
    """Where an answered call goes: a dialplan location or an application (from settings)."""

    context: str | None = "dispatcher-answered"
    exten: str | None = "s"
    priority: int | None = 1
    application: str | None = None
    data: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginateTarget:
        if settings.originate_application:
            return cls(None, None, None, settings.originate_application,
                       settings.originate_data or None)
        return cls(settings.originate_context, settings.originate_exten,
                   settings.originate_priority)


def build_originate(row: CallRow | DialCall, attempt_id: uuid.UUID,
                    target: OriginateTarget) -> OriginateRequest:
    if row.originate_target:  # a campaign's own dialplan location (validated at creation)
        target = OriginateTarget(row.originate_target["context"],
                                 row.originate_target["exten"],
                                 row.originate_target["priority"])
    variables = {**(row.variables or {}), "CALL_ID": str(row.id)}
    return OriginateRequest(
        action_id=str(attempt_id), channel=row.dial_string, timeout_s=row.ring_timeout,
        caller_id=row.caller_id, variables=variables, context=target.context,
        exten=target.exten, priority=target.priority, application=target.application,
        data=target.data,
    )


class LinePort(Protocol):
    """The slice of :class:`~dispatcher.usecases.admission.Admissions` a dial needs."""

    def hold(self, call_id: uuid.UUID, trunk: str) -> bool: ...
    def dialled(self, call_id: uuid.UUID, trunk: str, ring_timeout: float) -> None: ...
    def release(self, call_id: uuid.UUID, trunk: str) -> None: ...
    def enqueue(self, call_id: uuid.UUID, trunk: str, *, priority: int,
                created: datetime) -> None: ...


class UnlimitedLines:
    """No line accounting (tests of the dial itself, or capacity control off)."""

    def hold(self, call_id: uuid.UUID, trunk: str) -> bool:
        return True

    def dialled(self, call_id: uuid.UUID, trunk: str, ring_timeout: float) -> None:
        pass

    def release(self, call_id: uuid.UUID, trunk: str) -> None:
        pass

    def enqueue(self, call_id: uuid.UUID, trunk: str, *, priority: int,
                created: datetime) -> None:
        pass


def dial_call(sessions: Sessions, call_id: uuid.UUID, ami: Callable[[str], DialPort],
              target: OriginateTarget, lines: LinePort | None = None,
              guard: DialGuard | None = None,
              clock: Clock = utcnow) -> str:
    """Dial a queued call once, while it holds a line on its trunk and passes its last checks
    (campaign running, call window open, not on a do-not-call list, number cap).

    Returns what happened. Raises :class:`AMIUnavailable` only when nothing reached the PBX and
    the call is back to ``queued`` (still holding its line), so a retry is safe.
    """
    lines = lines or UnlimitedLines()
    guard = guard or DialGuard()
    engine = engine_of(sessions)
    with raw_transaction(engine) as cursor:
        current = load_call(cursor, call_id)
    if current is None or current.status != CallStatus.QUEUED.value:
        return _skip(current, lines)
    if not lines.hold(call_id, current.trunk):
        # The lease expired or was reclaimed: dialling now could be one call too many.
        lines.enqueue(call_id, current.trunk, priority=current.priority,
                      created=current.created_at)
        return "not-admitted"
    attempt_id = uuid.uuid4()
    checkpoint("before-claim")
    reason, row = _checked_claim(sessions, guard, current, attempt_id, clock())
    if reason is not None:
        logger.info("call %s: not dialled (%s)", call_id, reason)
        lines.release(call_id, current.trunk)
        return "withdrawn"
    if row is None:
        with raw_transaction(engine) as cursor:
            return _skip(load_call(cursor, call_id), lines)
    checkpoint("after-claim")
    try:
        request = build_originate(row, attempt_id, target)
        port = ami(row.trunk)
        port.originate(request)
    except AMIUnavailable:
        _unclaim(sessions, call_id, attempt_id)
        raise
    except AMIOutcomeUnknown as exc:
        logger.error("call %s: originate outcome unknown (%s); not redialling", call_id, exc)
        _note(sessions, attempt_id, dial_error=f"originate outcome unknown: {exc}")
        # It may be ringing: keep the line until the consumer or reconciliation says.
        lines.dialled(call_id, row.trunk, row.ring_timeout)
        return "unknown"
    except AMIActionFailed as exc:
        _fail(sessions, attempt_id, outcome="failed", error=f"PBX refused originate: {exc}")
        lines.release(call_id, row.trunk)
        return "refused"
    except (InvalidOriginate, UnsafeAMIValue) as exc:
        _fail(sessions, attempt_id, outcome="invalid-request", error=str(exc))
        lines.release(call_id, row.trunk)
        return "invalid"
    checkpoint("after-originate-reply")
    lines.dialled(call_id, row.trunk, row.ring_timeout)
    if _mark_dialed(sessions, row, attempt_id):
        port.hangup(str(attempt_id))  # canceled while we were dialling
    return "dialed"


def _checked_claim(sessions: Sessions, guard: DialGuard, call: DialCall, attempt_id: uuid.UUID,
                   now: datetime) -> tuple[str | None, DialCall | None]:
    """The guard's checks and the claim, in one transaction: (why not, None) when a check
    refuses, (None, the claimed call) or (None, None) when the claim was lost. A call with
    nothing to check (an API call, no number cap) is claimed with the UPDATE alone."""
    if not guard.checks(call):
        with raw_transaction(engine_of(sessions)) as cursor:
            return None, claim_call(cursor, call.id, attempt_id)
    with sessions.begin() as session:
        reason = guard.refusal(session, call, now)
        if reason is not None:
            _withdraw(session, call, reason)
            return reason, None
        with raw_cursor(session) as cursor:
            return None, claim_call(cursor, call.id, attempt_id)


def _skip(row: DialCall | None, lines: LinePort) -> str:
    """A duplicate delivery of a live call keeps its line; a call that ended before it was
    dialled (canceled while admitted) gives its line back."""
    if row is not None and CallStatus(row.status).is_final and row.dialed_at is None:
        lines.release(row.id, row.trunk)
    logger.info("call %s: not claimable (duplicate delivery, canceled or done)",
                row.id if row else None)
    return "skipped"


def _withdraw(session: Session, call: DialCall, reason: str) -> None:
    campaign = call.campaign_id is not None
    if withdraw(session, call.id, reason, campaign=campaign) and not campaign:
        closed = CallRepository(session).get(call.id)
        if closed is not None:
            queue_callback(session, closed, "completed")


def hangup_call(sessions: Sessions, call_id: uuid.UUID,
                ami: Callable[[str], DialPort]) -> bool:
    """Hang up a dialled call by its Uniqueid (the attempt id); never by a regex."""
    with sessions() as session:
        row = CallRepository(session).get(call_id)
    if row is None or row.attempt_id is None or CallStatus(row.status).is_final:
        return False
    return ami(row.trunk).hangup(str(row.attempt_id))


def _unclaim(sessions: Sessions, call_id: uuid.UUID, attempt_id: uuid.UUID) -> None:
    with sessions.begin() as session:
        dial_checks.unclaim(session, call_id, attempt_id)


def _note(sessions: Sessions, attempt_id: uuid.UUID, **values: object) -> None:
    with sessions.begin() as session:
        dial_checks.note_attempt(session, attempt_id, **values)


def _mark_dialed(sessions: Sessions, call: DialCall, attempt_id: uuid.UUID) -> bool:
    """Record that the PBX accepted the Originate; say whether a cancel arrived meanwhile.
    A call that asked for its ``initiated`` callback is loaded and locked, as the delivery
    carries the whole call; any other takes one UPDATE."""
    if not call.wants_callback("initiated"):
        with raw_transaction(engine_of(sessions)) as cursor:
            return bool(mark_dialed(cursor, attempt_id, datetime.now(tz=UTC)))
    with sessions.begin() as session:
        row = CallRepository(session).by_attempt(attempt_id, for_update=True)
        if row is None:
            return False
        if row.dialed_at is None:
            now = datetime.now(tz=UTC)
            row.dialed_at = min(now, row.ended_at) if row.ended_at else now
            queue_callback(session, row, "initiated")
        return row.cancel_requested_at is not None


def _fail(sessions: Sessions, attempt_id: uuid.UUID, *, outcome: str, error: str) -> None:
    with sessions.begin() as session:
        row = CallRepository(session).by_attempt(attempt_id, for_update=True)
        if row is None or row.status != CallStatus.INITIATED.value:
            return
        row.status, row.outcome, row.dial_error = CallStatus.FAILED.value, outcome, error[:500]
        row.ended_at = row.updated_at = datetime.now(tz=UTC)
        queue_callback(session, row, "completed")
