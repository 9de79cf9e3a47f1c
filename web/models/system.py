"""What the unversioned endpoints and ``/v1/trunks`` send back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from web.models.common import Response


class Alive(Response):
    status: Literal["ok"]


class Ready(Response):
    status: Literal["ready", "not-ready"]
    checks: dict[str, str] = Field(description="``ok``, or the error, for postgresql, redis "
                                               "and ami")


class TrunkLines(Response):
    name: str
    queue: str
    lines_total: int
    lines_in_use: int
    lines_in_use_by_others: int = Field(description="lines held by calls this dispatcher "
                                                    "did not place")
    calls_waiting: int
    oldest_waiting_seconds: float | None
    calls_per_second_last_minute: float
    cps_limit: float | None
    paused: bool = Field(description="no calls are admitted while paused "
                                     "(`dispatcher trunk pause|resume NAME`)")
    lines_limit: int | None = Field(description="at most this many of `lines_total` are used "
                                                "when an operator set it (`dispatcher trunk "
                                                "limit NAME N|off`); null: all")
    watched: bool = Field(description="an event consumer sees this trunk's PBX; while none has "
                                      "for DISPATCHER_UNWATCHED_PAUSE seconds, no calls are "
                                      "admitted (nothing is dialled whose end no one would "
                                      "see)")
    prefixes: list[str]
    ami: str


class Trunks(Response):
    data: list[TrunkLines]
