"""Call windows: the local hours a contact may be called, in its own IANA time zone.

Pure functions of ``now``, so the hopper and the dial guard ask the same question the same way,
and tests can use a controlled clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dispatcher.domain.errors import ValidationFailed

DEFAULT_TIMEZONE = "Asia/Tehran"
# Python's weekday(): Monday is 0. Named the way operators write them.
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
