"""Campaign rules as plain functions: lifecycle, call windows in a contact's time zone (with a
controlled clock), and what each finished call means for its contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatcher.domain.call_windows import check_timezone, parse_windows
from dispatcher.domain.campaign_rules import (
    CampaignStatus,
    ContactState,
    NextStep,
    after_call,
    parse_retry,
    transition,
)
from dispatcher.domain.errors import Conflict, ValidationFailed

S = CampaignStatus


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class TestLifecycle:
    @pytest.mark.parametrize(("status", "action", "result"), [
        (S.DRAFT, "start", S.RUNNING), (S.RUNNING, "pause", S.PAUSED),
        (S.PAUSED, "resume", S.RUNNING), (S.DRAFT, "cancel", S.CANCELED),
        (S.RUNNING, "cancel", S.CANCELED), (S.PAUSED, "cancel", S.CANCELED),
    ])
    def test_allowed(self, status: CampaignStatus, action: str,
                     result: CampaignStatus) -> None:
        assert transition(status, action) is result

    @pytest.mark.parametrize(("status", "action"), [
        (S.DRAFT, "pause"), (S.DRAFT, "resume"), (S.RUNNING, "start"), (S.PAUSED, "pause"),
        (S.COMPLETED, "start"), (S.COMPLETED, "cancel"), (S.CANCELED, "resume"),
    ])
    def test_refused(self, status: CampaignStatus, action: str) -> None:
        with pytest.raises(Conflict):
            transition(status, action)


class TestWindows:
    WORKDAYS = parse_windows([{"days": ["sat", "sun", "mon", "tue", "wed"],
                               "start": "09:00", "end": "17:00"}])

    def test_open_and_closed_in_the_contacts_own_time_zone(self) -> None:
        monday_0630_utc = utc(2026, 11, 30, 6, 30)  # 10:00 Tehran, 01:30 New York
        assert self.WORKDAYS.allows(monday_0630_utc, "Asia/Tehran")
        assert not self.WORKDAYS.allows(monday_0630_utc, "America/New_York")

    def test_the_end_is_exclusive_and_thursday_is_not_a_workday(self) -> None:
        assert not self.WORKDAYS.allows(utc(2026, 11, 30, 13, 30), "Asia/Tehran")  # 17:00
        assert self.WORKDAYS.allows(utc(2026, 11, 30, 13, 29), "Asia/Tehran")
        assert not self.WORKDAYS.allows(utc(2026, 12, 3, 6, 30), "Asia/Tehran")  # Thursday

    def test_next_opening_is_found_to_the_minute(self) -> None:
        thursday = utc(2026, 12, 3, 6, 30)
        # Next workday in Tehran is Saturday 09:00 = 05:30 UTC.
        assert self.WORKDAYS.next_open(thursday, "Asia/Tehran") == utc(2026, 12, 5, 5, 30)
        assert self.WORKDAYS.next_open(utc(2026, 11, 30, 6, 30), "Asia/Tehran") == \
            utc(2026, 11, 30, 6, 30)

    def test_a_window_across_midnight_belongs_to_the_day_it_starts(self) -> None:
        night = parse_windows([{"days": ["fri"], "start": "22:00", "end": "02:00"}])
        friday_23 = utc(2026, 12, 4, 23, 0)
        saturday_01 = utc(2026, 12, 5, 1, 0)
        saturday_23 = utc(2026, 12, 5, 23, 0)
        assert night.allows(friday_23, "UTC") and night.allows(saturday_01, "UTC")
        assert not night.allows(saturday_23, "UTC")

    def test_daylight_saving_moves_the_window_in_utc(self) -> None:
        nine_to_five = parse_windows([{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                       "start": "09:00", "end": "17:00"}])
        # 13:30 UTC is 09:30 in New York in summer (UTC-4) and 08:30 in winter (UTC-5).
        assert nine_to_five.allows(utc(2026, 7, 1, 13, 30), "America/New_York")
        assert not nine_to_five.allows(utc(2026, 12, 1, 13, 30), "America/New_York")

    def test_no_windows_means_any_time(self) -> None:
        assert parse_windows(None).allows(utc(2026, 1, 1, 3, 0), "Asia/Tehran")

    @pytest.mark.parametrize("windows", [
        "always", [{"days": [], "start": "09:00", "end": "10:00"}],
        [{"days": ["mon"], "start": "9:00", "end": "10:00"}],
        [{"days": ["mon"], "start": "09:00", "end": "09:00"}],
        [{"days": ["mon"], "start": "24:00", "end": "10:00"}],
        [{"days": ["mon"], "start": "09:00", "end": "10:00", "tz": "UTC"}],
    ])
    def test_malformed_windows_are_refused(self, windows: object) -> None:
        with pytest.raises(ValidationFailed):
            parse_windows(windows)

    @pytest.mark.parametrize("name", ["Tehran", "UTC+3", "../etc/passwd", "", None, 3])
    def test_only_iana_zone_names(self, name: object) -> None:
        with pytest.raises(ValidationFailed):
            check_timezone(name)


class TestAfterACall:
    POLICY = parse_retry({"busy": {"max_attempts": 3, "delay": 60},
                          "no-answer": {"max_attempts": 2, "delay": 600},
                          "congestion": {"max_attempts": 5, "delay": 0},
                          "failed": {"max_attempts": 2, "delay": 30}})
    END = utc(2026, 11, 30, 10, 0)

    def step(self, attempts: int, status: str, outcome: str | None, claimed: bool = True,
             **kw: bool) -> NextStep:
        return after_call(self.POLICY, attempts, status, outcome, claimed, self.END,
                          self.END + timedelta(seconds=5), **kw)

    def test_busy_is_retried_after_its_delay_until_its_attempts_are_used(self) -> None:
        first = self.step(0, "busy", "busy")
        assert (first.state, first.next_attempt_at) == (ContactState.PENDING,
                                                        self.END + timedelta(seconds=60))
        assert self.step(2, "busy", "busy").state is ContactState.DONE

    @pytest.mark.parametrize(("status", "outcome", "final"), [
        ("completed", "answered", "answered"), ("failed", "invalid-number", "invalid-number"),
        ("failed", "rejected", "rejected"), ("failed", "unresolved", "unresolved"),
        ("canceled", "canceled", "canceled"),
    ])
    def test_never_retried(self, status: str, outcome: str, final: str) -> None:
        step = self.step(0, status, outcome)
        assert (step.state, step.outcome) == (ContactState.DONE, final)

    def test_congestion_and_failures_have_their_own_rules(self) -> None:
        assert self.step(3, "failed", "congestion").state is ContactState.PENDING
        assert self.step(1, "failed", "trunk-unreachable").state is ContactState.DONE

    def test_a_call_withdrawn_before_the_claim_is_not_an_attempt(self) -> None:
        paused = self.step(1, "canceled", "campaign-paused", claimed=False)
        assert paused.state is ContactState.PENDING and not paused.counts_as_attempt
        assert paused.next_attempt_at is None  # keeps its place in line
        dnc = self.step(0, "canceled", "dnc", claimed=False)
        assert (dnc.state, dnc.outcome) == (ContactState.SKIPPED, "dnc")

    def test_a_canceled_campaign_schedules_no_retry(self) -> None:
        step = self.step(0, "busy", "busy", campaign_canceled=True)
        assert step.state is ContactState.CANCELED

    @pytest.mark.parametrize("retry", [
        {"invalid-number": {"max_attempts": 2}}, {"busy": {"max_attempts": 0}},
        {"busy": {"max_attempts": 11}}, {"busy": {"delay": -1}}, {"busy": {"tries": 2}},
        {"busy": {"max_attempts": True}}, ["busy"],
    ])
    def test_malformed_policies_are_refused(self, retry: object) -> None:
        with pytest.raises(ValidationFailed):
            parse_retry(retry)
