"""The call model and its state machine: plain Python, no I/O.

AMI events arrive duplicated, late and out of order (OriginateResponse races the channel
events), so the machine is monotonic: a status only moves to a higher rank, and a final status
absorbs what comes after it. Evidence outranks inference: a call closed without evidence of
its own (``unresolved``, or failed with no hangup cause: an OriginateResponse that beat the
channel's Hangup, a CDR disposition) is settled again by the first real evidence that arrives,
and an answer seen anywhere (a Newstate, the Hangup's channel state, a CDR) always wins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from dispatcher.domain import events as ev
from dispatcher.domain.causes import Classification, cause_text, classify_hangup
from dispatcher.domain.status import CallStatus

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
    def answered(self) -> bool:
        return self.answered_at is not None or self.status is CallStatus.COMPLETED

    @property
    def settled(self) -> bool:
        """Final on evidence of its own (an answer, or the call's hangup cause): later events
        may only fill in what it lacks. A final state without either was inferred from missing
        evidence, and the first real evidence settles it again."""
        if not self.status.is_final or self.outcome == UNRESOLVED:
            return False
        return self.answered or self.hangup_cause is not None


def _earliest(current: datetime | None, seen: datetime) -> datetime:
    """Evidence of one moment arrives from several events in any order: keep the first."""
    return seen if current is None or seen < current else current


def _earlier_only(current: datetime | None, seen: datetime) -> datetime | None:
    """The dial time the worker wrote (its clock), moved back to when the PBX created the
    channel (its clock) if that was earlier. An unset one stays unset: the worker writes it,
    and that first write is what sends the ``initiated`` callback."""
    return None if current is None else _earliest(current, seen)


def _advance(state: CallState, status: CallStatus, **changes: object) -> CallState:
    """Move forward to ``status`` (never back) with ``changes``; the same object when that
    changes nothing, which is most events (a call hears of its ringing and answer several
    times) and spares the consumer a copy per event."""
    if status.rank > state.status.rank:
        return replace(state, status=status, **changes)
    return _fill(state, **changes)


def _fill(state: CallState, **changes: object) -> CallState:
    if all(getattr(state, name) == value for name, value in changes.items()):
        return state
    return replace(state, **changes)


def _finish(state: CallState, result: Classification, at: datetime, **extra: object) -> CallState:
    """Close the call at ``at``, on the PBX's clock; never before it was dialled (``dialed_at``
    may come from the worker's clock, a few milliseconds apart)."""
    ended = at if state.dialed_at is None or at >= state.dialed_at else state.dialed_at
    return replace(state, status=result.status, outcome=result.outcome, ended_at=ended, **extra)


def apply_event(state: CallState, event: ev.CallEvent) -> CallState:
    """Return the state after ``event``; the same object when the event changes nothing."""
    if state.status.is_final:
        return _after_end(state, event)
    match event:
        case ev.ChannelCreated(at=at, channel=channel):
            return _advance(state, CallStatus.INITIATED, channel=state.channel or channel,
                            dialed_at=_earlier_only(state.dialed_at, at))
        case ev.CallRinging(at=at):
            return _advance(state, CallStatus.RINGING,
                            ringing_at=_earliest(state.ringing_at, at))
        case ev.CallAnswered(at=at):
            return _advance(state, CallStatus.IN_PROGRESS,
                            answered_at=_earliest(state.answered_at, at))
        case ev.HangupRequested(tech_cause=tech) | ev.LegHungUp(tech_cause=tech) \
                if tech and not state.sip_code:
            return replace(state, sip_code=tech)
        case ev.ChannelHungUp():
            return _hung_up(state, event)
        case ev.OriginateFailed(at=at) if state.channel is None:
            # No channel yet: perhaps none will come, and this is the only event. If a channel
            # did exist (a Local channel's Newchannel can arrive after its OriginateResponse),
            # its Hangup settles the call again, with its cause.
            return _finish(state, Classification(CallStatus.FAILED, "trunk-unreachable"), at)
        case ev.CdrRecorded(authoritative=True):
            return _apply_cdr(state, event)
        case ev.CdrRecorded(disposition=disposition, answered_at=answered_at, at=at) \
                if disposition.upper() == "ANSWERED":
            return apply_event(state, ev.CallAnswered(answered_at or at))
    return state


def _after_end(state: CallState, event: ev.CallEvent) -> CallState:
    """A final call: real evidence settles one closed without any; otherwise events only fill
    in what it lacks (the SIP code of another leg, the answer time a CDR carries)."""
    weak = not state.settled
    match event:
        case ev.ChannelHungUp() if weak:
            return _hung_up(state, event)
        case ev.CdrRecorded() if weak:
            return _apply_cdr(state, event)
        case ev.CallAnswered(at=at) if weak or state.answered:
            return _fill(state, status=CallStatus.COMPLETED, outcome="answered",
                         answered_at=_earliest(state.answered_at, at))
        case ev.CdrRecorded(answered_at=answered_at) if answered_at and state.answered:
            return _fill(state, answered_at=_earliest(state.answered_at, answered_at))
        case ev.HangupRequested(tech_cause=tech) | ev.LegHungUp(tech_cause=tech) \
                if tech and not state.sip_code:
            return replace(state, sip_code=tech)
        case ev.ChannelCreated(at=at, channel=channel) if weak and state.channel is None:
            return replace(state, channel=channel,
                           dialed_at=_earlier_only(state.dialed_at, at))
    return state


def _hung_up(state: CallState, event: ev.ChannelHungUp) -> CallState:
    result = classify_hangup(
        event.cause, event.tech_cause, answered=state.answered or event.up,
        rang=state.ringing_at is not None, canceled=state.cancel_requested,
    )
    return _finish(
        state, result, event.at, hangup_cause=event.cause,
        hangup_cause_text=event.cause_txt or cause_text(event.cause),
        sip_code=event.tech_cause or state.sip_code,
    )


_CDR_RESULTS = {
    "ANSWERED": Classification(CallStatus.COMPLETED, "answered"),
    "BUSY": Classification(CallStatus.BUSY, "busy"),
    "NO ANSWER": Classification(CallStatus.NO_ANSWER, "no-answer"),
    "CONGESTION": Classification(CallStatus.FAILED, "congestion"),
    "FAILED": Classification(CallStatus.FAILED, "failed"),
}


def _apply_cdr(state: CallState, cdr: ev.CdrRecorded) -> CallState:
    """Settle a call from its CDR: its disposition, and its hangup cause when the dialplan
    recorded one (``cdr`` table). Without a cause the result is still open to a Hangup."""
    answered_at = state.answered_at or cdr.answered_at
    if cdr.hangup_cause is not None:
        result = classify_hangup(
            cdr.hangup_cause, None, answered=state.answered or answered_at is not None
            or cdr.disposition.upper() == "ANSWERED", rang=state.ringing_at is not None,
            canceled=state.cancel_requested)
        return _finish(state, result, cdr.at, answered_at=answered_at,
                       hangup_cause=cdr.hangup_cause,
                       hangup_cause_text=cause_text(cdr.hangup_cause))
    result = _CDR_RESULTS.get(cdr.disposition.upper())
    if state.answered:
        result = _CDR_RESULTS["ANSWERED"]
    if result is None:
        return state
    if state.cancel_requested and result.status is not CallStatus.COMPLETED:
        result = Classification(CallStatus.CANCELED, "canceled")
    return _finish(state, result, cdr.at, answered_at=answered_at)


def mark_unresolved(state: CallState) -> CallState:
    """Give up on proving the call's end; never redial, report it instead. When it ended is
    not known either: ``ended_at`` stays empty rather than holding the time we gave up."""
    if state.status.is_final:
        return state
    return replace(state, status=CallStatus.FAILED, outcome=UNRESOLVED, ended_at=None)
