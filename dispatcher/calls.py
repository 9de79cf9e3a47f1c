"""The call model and its state machine: plain Python, no I/O.

AMI events arrive duplicated, late and out of order (OriginateResponse races the channel
events), so the machine is monotonic: a status only moves to a higher rank, and a final status
absorbs everything after it. The single exception is ``unresolved``: a call the reconciler could
not prove either way may still be settled by evidence that turns up later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from dispatcher import events as ev
from dispatcher.causes import Classification, cause_text, classify_hangup
from dispatcher.status import CallStatus

UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class CallState:
    """The part of a call row that AMI events can change."""

    status: CallStatus
    outcome: str | None = None
    channel: str | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    sip_code: int | None = None
    dialed_at: datetime | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    cancel_requested: bool = False

    @property
    def settled(self) -> bool:
        """Final, and not merely given up on."""
        return self.status.is_final and self.outcome != UNRESOLVED


def _earliest(current: datetime | None, seen: datetime) -> datetime:
    """Evidence of one moment arrives from several events in any order: keep the first."""
    return seen if current is None or seen < current else current


def _advance(state: CallState, status: CallStatus, **changes: object) -> CallState:
    """Move forward to ``status`` (never back) with ``changes``; the same object when that
    changes nothing, which is most events (a call hears of its ringing and answer several
    times) and spares the consumer a copy per event."""
    if status.rank > state.status.rank:
        return replace(state, status=status, **changes)
    if all(getattr(state, name) == value for name, value in changes.items()):
        return state
    return replace(state, **changes)


def _finish(state: CallState, result: Classification, at: datetime, **extra: object) -> CallState:
    return replace(state, status=result.status, outcome=result.outcome, ended_at=at, **extra)


def apply_event(state: CallState, event: ev.CallEvent) -> CallState:
    """Return the state after ``event``; the same object when the event changes nothing."""
    if state.settled:
        return state
    if state.status.is_final:  # unresolved: only an end can settle it
        if not isinstance(event, ev.ChannelHungUp | ev.OriginateFailed | ev.CdrRecorded):
            return state
    match event:
        case ev.ChannelCreated(channel=channel):
            return _advance(state, CallStatus.INITIATED, channel=state.channel or channel)
        case ev.CallRinging(at=at):
            return _advance(state, CallStatus.RINGING,
                            ringing_at=_earliest(state.ringing_at, at))
        case ev.CallAnswered(at=at):
            return _advance(state, CallStatus.IN_PROGRESS,
                            answered_at=_earliest(state.answered_at, at))
        case ev.HangupRequested(tech_cause=tech) if tech and not state.sip_code:
            return replace(state, sip_code=tech)
        case ev.ChannelHungUp(at=at, cause=cause, tech_cause=tech, cause_txt=txt):
            result = classify_hangup(
                cause, tech, answered=state.answered_at is not None,
                rang=state.ringing_at is not None, canceled=state.cancel_requested,
            )
            return _finish(
                state, result, at, hangup_cause=cause,
                hangup_cause_text=txt or cause_text(cause), sip_code=tech or state.sip_code,
            )
        case ev.OriginateFailed(at=at) if state.channel is None:
            # No channel was ever created: the OriginateResponse is the only event there will be.
            result = Classification(CallStatus.FAILED, "trunk-unreachable")
            return _finish(state, result, at)
        case ev.CdrRecorded():
            return _apply_cdr(state, event)
    return state


_CDR_RESULTS = {
    "ANSWERED": Classification(CallStatus.COMPLETED, "answered"),
    "BUSY": Classification(CallStatus.BUSY, "busy"),
    "NO ANSWER": Classification(CallStatus.NO_ANSWER, "no-answer"),
    "CONGESTION": Classification(CallStatus.FAILED, "congestion"),
    "FAILED": Classification(CallStatus.FAILED, "failed"),
}


def _apply_cdr(state: CallState, cdr: ev.CdrRecorded) -> CallState:
    """Settle a call from its CDR, which only the reconciler relies on: live events carry the
    hangup cause, a CDR only the disposition."""
    if not cdr.authoritative:
        return state
    answered_at = state.answered_at or cdr.answered_at
    if cdr.hangup_cause is not None:
        result = classify_hangup(
            cdr.hangup_cause, None, answered=answered_at is not None
            or cdr.disposition.upper() == "ANSWERED", rang=state.ringing_at is not None,
            canceled=state.cancel_requested)
        return _finish(state, result, cdr.at, answered_at=answered_at,
                       hangup_cause=cdr.hangup_cause,
                       hangup_cause_text=cause_text(cdr.hangup_cause))
    result = _CDR_RESULTS.get(cdr.disposition.upper())
    if result is None:
        return state
    if state.cancel_requested and result.status is not CallStatus.COMPLETED:
        result = Classification(CallStatus.CANCELED, "canceled")
    return _finish(state, result, cdr.at, answered_at=answered_at)


def mark_unresolved(state: CallState, at: datetime) -> CallState:
    """Give up on proving the call's end; never redial, report it instead."""
    if state.status.is_final:
        return state
    return replace(state, status=CallStatus.FAILED, outcome=UNRESOLVED, ended_at=at)
