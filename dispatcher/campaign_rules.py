"""Campaign rules: lifecycle, call windows and retry policy. Plain Python, no I/O.

Everything time-dependent takes ``now`` as an argument, so the rules can be tested with a
controlled clock and the hopper and the dial guard ask the same question the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dispatcher.errors import Conflict, ValidationFailed

DEFAULT_TIMEZONE = "Asia/Tehran"
# Python's weekday(): Monday is 0. Named the way operators write them.
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RETRYABLE = ("busy", "no-answer", "congestion", "failed")
MAX_ATTEMPTS_LIMIT = 10
MAX_RETRY_DELAY = 7 * 86400


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in (CampaignStatus.COMPLETED, CampaignStatus.CANCELED)


S = CampaignStatus
_TRANSITIONS = {
    "start": ({S.DRAFT}, S.RUNNING),
    "pause": ({S.RUNNING}, S.PAUSED),
    "resume": ({S.PAUSED}, S.RUNNING),
    "cancel": ({S.DRAFT, S.RUNNING, S.PAUSED}, S.CANCELED),
}
ACTIONS = tuple(_TRANSITIONS)


def transition(current: CampaignStatus, action: str) -> CampaignStatus:
    """The status after ``action``; :class:`Conflict` when the lifecycle does not allow it."""
    allowed, target = _TRANSITIONS[action]
    if current not in allowed:
        raise Conflict(f"cannot {action} a {current.value} campaign")
    return target


class ContactState(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt; next_attempt_at says when
    DIALING = "dialing"  # has a call that is not final yet
    DONE = "done"  # no more attempts; ``outcome`` says why
    SKIPPED = "skipped"  # never dialled on purpose (do-not-call list)
    CANCELED = "canceled"  # the campaign was canceled before it was done


# --- time zones and call windows ------------------------------------------------------------

@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: object, field_name: str = "timezone") -> str:
    """An IANA zone name from the system's database; anything else is refused."""
    if not isinstance(name, str) or name not in _zones():
        raise ValidationFailed(f"{field_name} must be an IANA time zone such as "
                               f"{DEFAULT_TIMEZONE}", field=field_name)
    return name


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class CallWindow:
    """Local hours on some weekdays. ``end`` may be ``24:00``; ``start > end`` spans
    midnight (the part after midnight belongs to the day it started on)."""

    days: frozenset[int]
    start: time
    end: time | None  # None: until midnight

    def _minutes(self) -> tuple[int, int]:
        start = self.start.hour * 60 + self.start.minute
        end = 24 * 60 if self.end is None else self.end.hour * 60 + self.end.minute
        return start, end

    def contains(self, local: datetime) -> bool:
        start, end = self._minutes()
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if start < end:
            return day in self.days and start <= minute < end
        # Spans midnight: open from start on an allowed day, and until end the next morning.
        return ((day in self.days and minute >= start)
                or ((day - 1) % 7 in self.days and minute < end))

    def as_json(self) -> dict[str, object]:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return {"days": [DAYS[d] for d in sorted(self.days, key=_week_order)],
                "start": self.start.strftime("%H:%M"), "end": end}


def _week_order(day: int) -> int:
    return (day - 5) % 7  # the Iranian week starts on Saturday


@dataclass(frozen=True)
class Windows:
    """The allowed times of a campaign; no windows at all means any time."""

    windows: tuple[CallWindow, ...] = ()

    def allows(self, now: datetime, tz: str) -> bool:
        if not self.windows:
            return True
        local = now.astimezone(zone(tz))
        return any(w.contains(local) for w in self.windows)

    def next_open(self, now: datetime, tz: str) -> datetime | None:
        """The first moment (to the minute) from ``now`` that a window allows; ``now`` itself
        when open, None when nothing opens within a week."""
        if self.allows(now, tz):
            return now
        probe = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(7 * 24 * 60 // 15 + 1):  # a week, in quarter hours, then refine
            if self.allows(probe, tz):
                earlier = probe - timedelta(minutes=15)
                while earlier < probe and not self.allows(earlier, tz):
                    earlier += timedelta(minutes=1)
                return max(earlier, now)
            probe += timedelta(minutes=15)
        return None

    def as_json(self) -> list[dict[str, object]]:
        return [w.as_json() for w in self.windows]


def _day_names(value: object, where: str) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise ValidationFailed(f"{where}.days must be a non-empty list of {', '.join(DAYS)}",
                               field=f"{where}.days")
    days = set()
    for name in value:
        if not isinstance(name, str) or name.lower() not in DAYS:
            raise ValidationFailed(f"{where}.days: {str(name)[:20]!r} is not one of "
                                   f"{', '.join(DAYS)}", field=f"{where}.days")
        days.add(DAYS.index(name.lower()))
    return frozenset(days)


def _clock(value: object, where: str, *, allow_24: bool = False) -> time | None:
    if allow_24 and value == "24:00":
        return None
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValidationFailed(f"{where} must be a time HH:MM (00:00-23:59"
                               f"{' or 24:00' if allow_24 else ''})", field=where)
    return time(int(match.group(1)), int(match.group(2)))


def parse_windows(value: object) -> Windows:
    if value is None:
        return Windows()
    if not isinstance(value, list) or len(value) > 14:
        raise ValidationFailed("windows must be a list of at most 14 "
                               "{days, start, end} objects", field="windows")
    parsed = []
    for index, item in enumerate(value):
        where = f"windows[{index}]"
        if not isinstance(item, dict) or set(item) - {"days", "start", "end"}:
            raise ValidationFailed(f"{where} must be an object with days, start and end",
                                   field=where)
        start = _clock(item.get("start"), f"{where}.start")
        end = _clock(item.get("end"), f"{where}.end", allow_24=True)
        assert start is not None
        if end is not None and end == start:
            raise ValidationFailed(f"{where} is empty: start equals end", field=where)
        parsed.append(CallWindow(_day_names(item.get("days"), where), start, end))
    return Windows(tuple(parsed))


# --- retry policy -------------------------------------------------------------------------

@dataclass(frozen=True)
class Retry:
    max_attempts: int
    delay: int  # seconds between the end of one attempt and the next


DEFAULT_RETRY = Retry(max_attempts=1, delay=0)


@dataclass(frozen=True)
class RetryPolicy:
    """Per outcome: how many attempts in all, and how long to wait between them. Outcomes not
    listed are not retried; ``invalid-number`` and ``rejected`` never are."""

    rules: dict[str, Retry] = field(default_factory=dict)

    @property
    def max_attempts(self) -> int:
        return max([1, *(r.max_attempts for r in self.rules.values())])

    def as_json(self) -> dict[str, dict[str, int]]:
        return {k: {"max_attempts": r.max_attempts, "delay": r.delay}
                for k, r in sorted(self.rules.items())}


def parse_retry(value: object) -> RetryPolicy:
    if value is None:
        return RetryPolicy()
    if not isinstance(value, dict):
        raise ValidationFailed(f"retry must be an object keyed by {', '.join(RETRYABLE)}",
                               field="retry")
    rules = {}
    for outcome, rule in value.items():
        where = f"retry.{outcome}"[:100]
        if outcome not in RETRYABLE:
            raise ValidationFailed(f"retry: {str(outcome)[:40]!r} cannot be retried; use "
                                   f"{', '.join(RETRYABLE)}", field=where)
        if not isinstance(rule, dict) or set(rule) - {"max_attempts", "delay"}:
            raise ValidationFailed(f"{where} must be {{max_attempts, delay}}", field=where)
        attempts, delay = rule.get("max_attempts", 1), rule.get("delay", 300)
        if isinstance(attempts, bool) or not isinstance(attempts, int) \
                or not 1 <= attempts <= MAX_ATTEMPTS_LIMIT:
            raise ValidationFailed(f"{where}.max_attempts must be 1-{MAX_ATTEMPTS_LIMIT}",
                                   field=f"{where}.max_attempts")
        if isinstance(delay, bool) or not isinstance(delay, int) \
                or not 0 <= delay <= MAX_RETRY_DELAY:
            raise ValidationFailed(f"{where}.delay must be 0-{MAX_RETRY_DELAY} seconds",
                                   field=f"{where}.delay")
        rules[outcome] = Retry(attempts, delay)
    return RetryPolicy(rules)


# --- what a finished call means for its contact -------------------------------------------

# Outcomes of calls withdrawn before anyone claimed them: not attempts.
WITHDRAWN_PAUSED = "campaign-paused"
WITHDRAWN_CANCELED = "campaign-canceled"
WITHDRAWN_WINDOW = "outside-window"
WITHDRAWN_DNC = "dnc"
WITHDRAWN_CAP = "number-cap"
WITHDRAWN = frozenset({WITHDRAWN_PAUSED, WITHDRAWN_CANCELED, WITHDRAWN_WINDOW, WITHDRAWN_DNC,
                       WITHDRAWN_CAP})


def retry_category(status: str, outcome: str | None) -> str | None:
    """Which retry rule applies to a finished attempt; None: never retry (answered, a number
    that does not exist, a refusal, or an attempt whose fate we could not prove)."""
    if status == "busy":
        return "busy"
    if status == "no-answer":
        return "no-answer"
    if status == "failed":
        if outcome == "congestion":
            return "congestion"
        if outcome in ("failed", "trunk-unreachable", "network-error"):
            return "failed"
    return None


@dataclass(frozen=True)
class NextStep:
    state: ContactState
    outcome: str | None
    next_attempt_at: datetime | None = None
    counts_as_attempt: bool = True


def after_call(policy: RetryPolicy, attempts_before: int, status: str, outcome: str | None,
               claimed: bool, ended_at: datetime | None, now: datetime,
               campaign_canceled: bool = False) -> NextStep:
    """Decide a contact's next state from its call's end.

    A call that was withdrawn before any worker claimed it was never dialled: it is not an
    attempt. An ``unresolved`` attempt is never retried: the person may have been called.
    """
    if not claimed:
        if outcome == WITHDRAWN_DNC:
            return NextStep(ContactState.SKIPPED, "dnc", counts_as_attempt=False)
        if campaign_canceled or outcome == WITHDRAWN_CANCELED:
            return NextStep(ContactState.CANCELED, None, counts_as_attempt=False)
        # Back in line where it was (its next_attempt_at is unchanged): a resumed campaign
        # continues with the contacts it had picked.
        return NextStep(ContactState.PENDING, None, counts_as_attempt=False)
    attempts = attempts_before + 1
    final = outcome if status == "failed" else ("answered" if status == "completed"
                                                  else outcome or status)
    category = retry_category(status, outcome)
    rule = policy.rules.get(category) if category else None
    if rule is None or attempts >= rule.max_attempts:
        return NextStep(ContactState.DONE, final)
    if campaign_canceled:
        return NextStep(ContactState.CANCELED, final)
    return NextStep(ContactState.PENDING, final,
                    (ended_at or now) + timedelta(seconds=rule.delay))


def utcnow() -> datetime:
    return datetime.now(tz=UTC)
