"""What a campaign is doing now, and why it is not dialling when it is not.

"running, pending 2" tells an operator nothing when the calling hours are over or every
remaining contact waits for its retry; this says which, and until when, in the campaign's
own time zone. The ETA follows: a campaign cannot finish before its window opens or before
its last retry is due, whatever its recent rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatcher.domain.call_windows import Windows, zone

DIALING = "dialing"
WAITING_FOR_WINDOW = "waiting-for-window"
WAITING_FOR_RETRIES = "waiting-for-retries"
TRUNK_PAUSED = "trunk-paused"
FINISHING = "finishing"
# Every state a campaign's activity can be in: those above, and the campaign's own status
# when it is not running.
STATES = ("draft", DIALING, WAITING_FOR_WINDOW, WAITING_FOR_RETRIES, TRUNK_PAUSED, FINISHING,
          "paused", "completed", "canceled")


@dataclass(frozen=True)
class Schedule:
    """Where a campaign's remaining contacts stand at one moment."""

    pending: int
    dialing: int
    due_now: int  # pending contacts whose next attempt is due (at least this many)
    first_due: datetime | None  # the earliest next attempt among pending contacts
    last_due: datetime | None  # the latest one


@dataclass(frozen=True)
class Activity:
    state: str
    reason: str
    until: datetime | None = None


def _at(moment: datetime, tz: str) -> str:
    return f"{moment.astimezone(zone(tz)):%a %H:%M} {tz}"


def activity(status: str, schedule: Schedule, windows: Windows, tz: str, now: datetime, *,
             paused_by: str | None = None, paused_at: datetime | None = None,
             trunk: str = "", trunk_paused: bool = False) -> Activity:
    if status == "draft":
        return Activity("draft", "not started")
    if status == "paused":
        who = f" by {paused_by}" if paused_by else ""
        when = f" at {_at(paused_at, tz)}" if paused_at else ""
        return Activity("paused", f"paused{who}{when}")
    if status != "running":
        return Activity(status, status)
    if trunk_paused:
        return Activity(TRUNK_PAUSED, f"trunk paused: trunk {trunk} admits no new calls until "
                                      "an operator resumes it")
    if schedule.pending == 0:
        if schedule.dialing:
            return Activity(DIALING, f"dialing the last {schedule.dialing} contact(s)")
        return Activity(FINISHING, "every contact is done; completing")
    if not windows.allows(now, tz):
        opens = windows.next_open(now, tz)
        if opens is None:
            return Activity(WAITING_FOR_WINDOW, "waiting for a window: none opens within "
                                                "a week")
        return Activity(WAITING_FOR_WINDOW, f"waiting for window (opens {_at(opens, tz)})",
                        opens)
    if schedule.due_now == 0 and schedule.dialing == 0 and schedule.first_due is not None:
        return Activity(WAITING_FOR_RETRIES, "waiting for retries (next at "
                                             f"{_at(schedule.first_due, tz)})",
                        schedule.first_due)
    return Activity(DIALING, "dialing")


def eta_seconds(act: Activity, schedule: Schedule, rate_per_minute: float,
                now: datetime) -> float | None:
    """Seconds until the campaign should be done: the measured rate over what is left, but
    never before its window opens or its last pending retry is due. None while it cannot be
    told (not running, no rate yet and nothing scheduled, or no window opens)."""
    if act.state not in (DIALING, WAITING_FOR_WINDOW, WAITING_FOR_RETRIES, FINISHING):
        return None
    if act.state == WAITING_FOR_WINDOW and act.until is None:
        return None
    left = schedule.pending + schedule.dialing
    if left == 0:
        return 0.0
    floors = [(moment - now).total_seconds()
              for moment in (act.until, schedule.last_due) if moment is not None]
    by_rate = left / rate_per_minute * 60 if rate_per_minute > 0 else None
    candidates = floors + ([by_rate] if by_rate is not None else [])
    if by_rate is None and act.state == DIALING:
        return None
    return round(max(0.0, *candidates), 1) if candidates else None


def with_reason(status: str, reason: str | None) -> str:
    """The status, and why it is not dialling when it is not: "running: waiting for window
    (opens Sat 09:00 Asia/Tehran)", "paused by night-shift at Mon 18:00 Asia/Tehran"."""
    if not reason or reason in (status, DIALING):
        return status
    return reason if reason.startswith(status) else f"{status}: {reason}"
