"""A campaign that is not dialling says why, and until when, in its own time zone; its ETA
never promises an end before its window opens or its last retry is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatcher.domain.call_windows import parse_windows
from dispatcher.domain.campaign_activity import Schedule, activity, eta_seconds

# Friday 2026-06-05 21:00 in Tehran (+03:30): after Saturday-to-Wednesday calling hours.
FRIDAY_EVENING = datetime(2026, 6, 5, 17, 30, tzinfo=UTC)
WEEKDAYS = parse_windows([{"days": ["sat", "sun", "mon", "tue", "wed"],
                           "start": "09:00", "end": "17:00"}])
TZ = "Asia/Tehran"


def test_outside_its_window_a_campaign_waits_for_it_to_open() -> None:
    act = activity("running", Schedule(5, 0, 5, None, None), WEEKDAYS, TZ, FRIDAY_EVENING)
    assert act.state == "waiting-for-window"
    assert act.reason == "waiting for window (opens Sat 09:00 Asia/Tehran)"
    assert act.until == datetime(2026, 6, 6, 5, 30, tzinfo=UTC)


def test_with_every_contact_waiting_for_its_retry_it_says_when_the_next_is_due() -> None:
    monday = datetime(2026, 6, 8, 7, 0, tzinfo=UTC)  # 10:30 in Tehran, inside the window
    due = monday + timedelta(minutes=25)
    act = activity("running", Schedule(2, 0, 0, due, due + timedelta(minutes=5)), WEEKDAYS,
                   TZ, monday)
    assert (act.state, act.reason) == ("waiting-for-retries",
                                       "waiting for retries (next at Mon 10:55 Asia/Tehran)")
    # Fast calls a moment ago must not promise the end before the last retry is due.
    assert eta_seconds(act, Schedule(2, 0, 0, due, due + timedelta(minutes=5)), 60.0,
                       monday) == 30 * 60


def test_paused_names_who_and_when_and_a_paused_trunk_comes_first() -> None:
    at = datetime(2026, 6, 8, 7, 0, tzinfo=UTC)
    paused = activity("paused", Schedule(3, 0, 3, None, None), WEEKDAYS, TZ, at,
                      paused_by="night-shift", paused_at=at)
    assert paused.reason == "paused by night-shift at Mon 10:30 Asia/Tehran"
    held = activity("running", Schedule(3, 0, 3, None, None), WEEKDAYS, TZ, at,
                    trunk="carrier", trunk_paused=True)
    assert held.state == "trunk-paused" and "carrier" in held.reason


def test_dialing_takes_the_rate_and_the_window_floor_takes_over_when_closed() -> None:
    monday = datetime(2026, 6, 8, 7, 0, tzinfo=UTC)
    act = activity("running", Schedule(40, 10, 40, monday, monday), WEEKDAYS, TZ, monday)
    assert act.state == "dialing"
    assert eta_seconds(act, Schedule(40, 10, 40, monday, monday), 10.0, monday) == 300.0
    assert eta_seconds(act, Schedule(40, 10, 40, monday, monday), 0.0, monday) is None
    closed = activity("running", Schedule(40, 0, 40, None, None), WEEKDAYS, TZ,
                      FRIDAY_EVENING)
    eta = eta_seconds(closed, Schedule(40, 0, 40, None, None), 10.0, FRIDAY_EVENING)
    assert eta == (datetime(2026, 6, 6, 5, 30, tzinfo=UTC) - FRIDAY_EVENING).total_seconds()


def test_drafts_and_ended_campaigns_have_no_eta() -> None:
    for status in ("draft", "completed", "canceled"):
        act = activity(status, Schedule(0, 0, 0, None, None), WEEKDAYS, TZ, FRIDAY_EVENING)
        assert eta_seconds(act, Schedule(0, 0, 0, None, None), 5.0, FRIDAY_EVENING) is None
