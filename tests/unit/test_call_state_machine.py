"""The call state machine: every transition, and immunity to duplicates and reordering."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from dispatcher.domain import events as ev
from dispatcher.domain.call_state import UNRESOLVED, CallState, apply_event, mark_unresolved
from dispatcher.domain.status import FINAL_STATUSES, CallStatus

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(events: list[ev.CallEvent], state: CallState | None = None) -> CallState:
    state = state or CallState(CallStatus.INITIATED)
    for event in events:
        state = apply_event(state, event)
    return state


CREATED = ev.ChannelCreated(at(0.001), channel="PJSIP/carrier-trunk-00000001")
RINGING = ev.CallRinging(at(0.01))
ANSWERED = ev.CallAnswered(at(1.0))
NORMAL_END = ev.ChannelHungUp(at(4.0), cause=16, cause_txt="Normal Clearing", tech_cause=None)


class TestForwardTransitions:
    def test_channel_creation_records_the_channel(self) -> None:
        state = run([CREATED])
        assert state.status is CallStatus.INITIATED
        assert state.channel == "PJSIP/carrier-trunk-00000001"

    def test_queued_call_becomes_initiated_when_its_channel_appears(self) -> None:
        assert run([CREATED], CallState(CallStatus.QUEUED)).status is CallStatus.INITIATED

    def test_ringing_then_answer_then_normal_hangup_completes(self) -> None:
        state = run([CREATED, RINGING])
        assert state.status is CallStatus.RINGING and state.ringing_at == at(0.01)
        state = run([ANSWERED], state)
        assert state.status is CallStatus.IN_PROGRESS and state.answered_at == at(1.0)
        state = run([NORMAL_END], state)
        assert (state.status, state.outcome, state.hangup_cause) == (
            CallStatus.COMPLETED, "answered", 16)
        assert state.ended_at == at(4.0)

    @pytest.mark.parametrize(
        ("cause", "tech", "rang", "status", "outcome"),
        [
            (17, 486, False, CallStatus.BUSY, "busy"),
            (34, 503, False, CallStatus.FAILED, "congestion"),
            (19, 480, True, CallStatus.NO_ANSWER, "no-answer"),
            (1, 404, False, CallStatus.FAILED, "invalid-number"),
            (21, 403, False, CallStatus.FAILED, "rejected"),
            (18, 408, False, CallStatus.FAILED, "trunk-unreachable"),
            (18, 408, True, CallStatus.NO_ANSWER, "no-answer"),
            (16, None, True, CallStatus.FAILED, "failed"),
            (38, 500, False, CallStatus.FAILED, "network-error"),
            (127, None, False, CallStatus.FAILED, "failed"),
        ],
    )
    def test_unanswered_hangup_cause_decides_the_final_status(
        self, cause: int, tech: int | None, rang: bool, status: CallStatus, outcome: str
    ) -> None:
        events: list[ev.CallEvent] = [CREATED] + ([RINGING] if rang else [])
        events.append(ev.ChannelHungUp(at(2), cause=cause, cause_txt=None, tech_cause=tech))
        state = run(events)
        assert (state.status, state.outcome, state.hangup_cause, state.sip_code) == (
            status, outcome, cause, tech)
        assert state.hangup_cause_text  # filled from the Q.850 table when the event has none

    def test_originate_failure_without_a_channel_is_final_trunk_unreachable(self) -> None:
        state = run([ev.OriginateFailed(at(0.002), reason=0)])
        assert (state.status, state.outcome) == (CallStatus.FAILED, "trunk-unreachable")

    def test_originate_failure_with_a_channel_waits_for_the_hangup_cause(self) -> None:
        state = run([CREATED, ev.OriginateFailed(at(0.007), reason=0)])
        assert state.status is CallStatus.INITIATED
        state = run([ev.ChannelHungUp(at(0.007), cause=17, cause_txt="User busy",
                                      tech_cause=486)], state)
        assert state.status is CallStatus.BUSY

    def test_hangup_request_carries_the_sip_code_early(self) -> None:
        state = run([CREATED, ev.HangupRequested(at(0.006), cause=17, tech_cause=486)])
        assert state.sip_code == 486 and state.status is CallStatus.INITIATED

    def test_cancel_requested_turns_a_normal_unanswered_hangup_into_canceled(self) -> None:
        state = CallState(CallStatus.RINGING, cancel_requested=True, ringing_at=at(0.01))
        state = run([ev.ChannelHungUp(at(2), cause=16, cause_txt=None, tech_cause=None)], state)
        assert (state.status, state.outcome) == (CallStatus.CANCELED, "canceled")

    def test_cancel_requested_after_answer_still_completes(self) -> None:
        state = CallState(CallStatus.IN_PROGRESS, cancel_requested=True, answered_at=at(1))
        assert run([NORMAL_END], state).status is CallStatus.COMPLETED


class TestDuplicatesAndReordering:
    def test_duplicates_change_nothing(self) -> None:
        events = [CREATED, RINGING, ANSWERED, NORMAL_END]
        once = run(events)
        twice = run([e for e in events for _ in range(2)])
        assert once == twice

    def test_nothing_moves_a_final_call(self) -> None:
        final = run([CREATED, ev.ChannelHungUp(at(1), cause=17, cause_txt=None, tech_cause=486)])
        for event in (CREATED, RINGING, ANSWERED, NORMAL_END,
                      ev.OriginateFailed(at(5), reason=0)):
            assert apply_event(final, event) is final

    def test_a_late_ringing_never_moves_an_answered_call_back(self) -> None:
        state = run([CREATED, ANSWERED, RINGING])
        assert state.status is CallStatus.IN_PROGRESS

    def test_answer_evidence_keeps_its_first_timestamp(self) -> None:
        state = run([CREATED, ev.CallAnswered(at(1.0)), ev.CallAnswered(at(1.1))])
        assert state.answered_at == at(1.0)

    @pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
    def test_busy_ending_is_the_same_in_every_order(self, order: tuple[int, ...]) -> None:
        # In the real busy trace Hangup came before OriginateResponse; elsewhere after.
        ending = [
            ev.HangupRequested(at(0.006), cause=17, tech_cause=486),
            ev.ChannelHungUp(at(0.007), cause=17, cause_txt="User busy", tech_cause=486),
            ev.OriginateFailed(at(0.007), reason=0),
        ]
        state = run([CREATED] + [ending[i] for i in order])
        assert (state.status, state.outcome, state.sip_code) == (CallStatus.BUSY, "busy", 486)

    @pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
    def test_answer_evidence_in_any_order_completes(self, order: tuple[int, ...]) -> None:
        answers = [ev.CallAnswered(at(1.017)), ev.CallAnswered(at(1.017)),
                   ev.CallAnswered(at(1.018))]
        state = run([CREATED, RINGING] + [answers[i] for i in order] + [NORMAL_END])
        assert state.status is CallStatus.COMPLETED and state.answered_at == at(1.017)


class TestUnresolved:
    def test_unresolved_is_a_final_failed_status_with_its_own_outcome(self) -> None:
        state = mark_unresolved(run([CREATED]))
        assert (state.status, state.outcome) == (CallStatus.FAILED, UNRESOLVED)
        assert state.status in FINAL_STATUSES
        assert state.ended_at is None  # not the time we gave up: nobody knows when it ended

    def test_evidence_arriving_later_settles_an_unresolved_call(self) -> None:
        state = mark_unresolved(run([CREATED, RINGING]))
        state = apply_event(state, ev.ChannelHungUp(at(30), cause=17, cause_txt=None,
                                                    tech_cause=486))
        assert (state.status, state.outcome) == (CallStatus.BUSY, "busy")

    def test_an_authoritative_cdr_settles_an_unresolved_call(self) -> None:
        state = mark_unresolved(run([CREATED]))
        state = apply_event(state, ev.CdrRecorded(at(20), disposition="ANSWERED",
                                                  answered_at=at(5), authoritative=True))
        assert (state.status, state.answered_at) == (CallStatus.COMPLETED, at(5))

    def test_a_cdr_with_the_hangup_cause_settles_as_precisely_as_live_events(self) -> None:
        state = mark_unresolved(run([CREATED]))
        state = apply_event(state, ev.CdrRecorded(at(20), disposition="NO ANSWER",
                                                  authoritative=True, hangup_cause=1))
        assert (state.status, state.outcome, state.hangup_cause) == (
            CallStatus.FAILED, "invalid-number", 1)

    def test_a_live_cdr_event_only_decorates(self) -> None:
        state = run([CREATED, ev.CdrRecorded(at(4), disposition="BUSY")])
        assert state.status is CallStatus.INITIATED

    def test_marking_a_settled_call_unresolved_changes_nothing(self) -> None:
        done = run([CREATED, ANSWERED, NORMAL_END])
        assert mark_unresolved(done) is done


class TestEvidenceOutranksInference:
    """A call closed without evidence of its own is settled again by the first real evidence;
    an answer seen anywhere wins (what real Asterisk showed, issue of the consumer's gaps)."""

    def test_a_hangup_in_state_up_proves_an_answer_whose_events_were_missed(self) -> None:
        up = ev.ChannelHungUp(at(9), cause=16, cause_txt="Normal Clearing", tech_cause=None,
                              up=True)
        state = run([CREATED, up])
        assert (state.status, state.outcome, state.hangup_cause) == (
            CallStatus.COMPLETED, "answered", 16)

    def test_the_cdr_then_gives_the_answer_time_the_missed_events_carried(self) -> None:
        up = ev.ChannelHungUp(at(9), cause=16, cause_txt=None, tech_cause=None, up=True)
        state = run([CREATED, up, ev.CdrRecorded(at(9), disposition="ANSWERED",
                                                answered_at=at(4))])
        assert (state.status, state.answered_at, state.ended_at) == (
            CallStatus.COMPLETED, at(4), at(9))

    def test_a_live_answered_cdr_is_evidence_of_the_answer(self) -> None:
        state = run([CREATED, ev.CdrRecorded(at(9), disposition="ANSWERED",
                                             answered_at=at(4)), NORMAL_END])
        assert (state.status, state.answered_at) == (CallStatus.COMPLETED, at(4))

    def test_an_originate_failure_that_beat_the_channel_gives_way_to_its_hangup_cause(
            self) -> None:
        # Local channels: a call the dialplan refuses at once can have its OriginateResponse
        # (Failure) arrive before the Newchannel of its ;1 half.
        state = run([ev.OriginateFailed(at(0.003), reason=0), CREATED,
                     ev.ChannelHungUp(at(0.004), cause=34, cause_txt=None, tech_cause=None)])
        assert (state.status, state.outcome, state.hangup_cause) == (
            CallStatus.FAILED, "congestion", 34)

    def test_the_sip_code_comes_from_the_leg_that_carried_it(self) -> None:
        leg = ev.LegHungUp(at(0.006), cause=17, tech_cause=486)
        before = run([CREATED, leg, ev.ChannelHungUp(at(0.007), cause=17, cause_txt=None,
                                                     tech_cause=None)])
        after = run([CREATED, ev.ChannelHungUp(at(0.007), cause=17, cause_txt=None,
                                               tech_cause=None), leg])
        assert before.sip_code == after.sip_code == 486
        assert before.status is after.status is CallStatus.BUSY

    def test_an_unresolved_call_with_answer_evidence_completes(self) -> None:
        state = apply_event(mark_unresolved(run([CREATED])), ANSWERED)
        assert (state.status, state.outcome) == (CallStatus.COMPLETED, "answered")

    def test_a_disposition_alone_is_refined_by_the_hangup_cause(self) -> None:
        state = apply_event(run([CREATED]), ev.CdrRecorded(at(2), disposition="NO ANSWER",
                                                           authoritative=True))
        assert state.status is CallStatus.NO_ANSWER
        state = apply_event(state, ev.ChannelHungUp(at(2), cause=21, cause_txt=None,
                                                    tech_cause=403))
        assert (state.status, state.outcome, state.sip_code) == (
            CallStatus.FAILED, "rejected", 403)

    def test_a_call_settled_by_its_own_cause_ignores_a_contradicting_answer(self) -> None:
        busy = run([CREATED, ev.ChannelHungUp(at(1), cause=17, cause_txt=None,
                                              tech_cause=486)])
        assert apply_event(busy, ANSWERED) is busy


class TestTimes:
    def test_a_call_never_ends_before_it_was_dialled(self) -> None:
        dialled = CallState(CallStatus.INITIATED, dialed_at=at(0.010))  # the worker's clock
        state = run([ev.ChannelHungUp(at(0.006), cause=34, cause_txt=None, tech_cause=None)],
                    dialled)  # the PBX's clock, a few milliseconds behind
        assert state.ended_at == at(0.010)

    def test_the_channel_creation_moves_the_dial_time_to_the_pbx_clock(self) -> None:
        dialled = CallState(CallStatus.INITIATED, dialed_at=at(0.010))
        assert run([ev.ChannelCreated(at(0.004), channel="Local/x;1")], dialled).dialed_at \
            == at(0.004)
