"""Simulator settings and the choice of a call's outcome from the dialled number.

The outcome of a call is decided by the *carrier*, not by Asterisk, so the simulator models a
carrier number plan: ordered regex rules first, then a default plan keyed on the first digit of
the number's last four digits, with ``0`` drawing from a seeded random mix. Keeping the choice
deterministic (rules, plan, seed) is what lets tests and load runs reproduce a mix of outcomes.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

ANSWER = "answer"
ANSWER_HOLD = "answer-hold"
BUSY = "busy"
CONGESTION = "congestion"
NO_ANSWER = "no-answer"
REJECTED = "rejected"
UNREACHABLE = "unreachable"
TIMEOUT_408 = "timeout-408"
UNALLOCATED = "unallocated"

OUTCOMES: tuple[str, ...] = (
    ANSWER, ANSWER_HOLD, BUSY, CONGESTION, NO_ANSWER, REJECTED, UNREACHABLE, TIMEOUT_408,
    UNALLOCATED,
)

#: Default carrier plan: first digit of the last four digits -> outcome ("0" -> random mix).
CARRIER_PLAN: dict[str, str] = {
    "1": ANSWER, "2": BUSY, "3": CONGESTION, "4": NO_ANSWER, "5": ANSWER_HOLD,
    "6": REJECTED, "7": UNREACHABLE, "8": TIMEOUT_408, "9": UNALLOCATED,
}

DEFAULT_MIX: dict[str, float] = {
    ANSWER: 0.7, BUSY: 0.1, NO_ANSWER: 0.1, CONGESTION: 0.05, UNALLOCATED: 0.05,
}

#: What the originated channel runs after answer, per context: (application, data) steps.
#: Mirrors the lab dialplan of the shared traces (NoOp, Playback(silence/1), Wait(300)).
DEFAULT_DIALPLAN: dict[str, list[tuple[str, str]]] = {
    "dispatcher-answered": [
        ("NoOp", "Answered CALL_ID=${CALL_ID}"), ("Playback", "silence/1"), ("Wait", "300"),
    ],
}

CdrSink = Callable[[dict[str, str]], None]


@dataclass(frozen=True)
class CallShape:
    """One call's own outcome and timing (unscaled seconds), for load runs whose calls differ:
    a realistic mix rings and talks for varied times, which one config-wide delay cannot give.
    ``None`` keeps what the config (rules, plan, delays) says for that call."""

    outcome: str | None = None
    # Ringing -> answer; for "no-answer", Ringing -> the end of ringing, which then ends as the
    # Originate Timeout would (without it, a no-answer call rings until that Timeout).
    ring_time: float | None = None
    talk_time: float | None = None  # answer -> remote hangup ("answer")

    def __post_init__(self) -> None:
        if self.outcome is not None:
            _check_outcome(self.outcome)
        for name in ("ring_time", "talk_time"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"CallShape.{name} must be >= 0, got {value!r}")


#: The dialled number -> that call's shape (``None``: the config's own behaviour).
CallShaper = Callable[[str], CallShape | None]


@dataclass
class SimConfig:
    """Everything the simulated Asterisk can be told. Delays are seconds, scaled by
    ``time_scale`` (which also scales Originate ``Timeout`` and dialplan Wait/Playback)."""

    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, str] = field(default_factory=dict)  # AMI username -> secret
    trunk: str = "carrier-trunk"
    lines: int = 30
    rules: Sequence[tuple[str, str]] = ()
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    seed: int | None = 0
    ring_delay: float = 0.01  # until 180 Ringing (or until the far end rejects)
    answer_delay: float = 1.0  # from Ringing to answer
    talk_time: float = 3.0  # answer -> remote hangup ("answer")
    hold_max: float = 3600.0  # safety limit for "answer-hold" before the far end hangs up
    timeout_408: float = 32.0  # SIP timer B for a dead carrier
    time_scale: float = 1.0
    login_failure_delay: float = 1.0
    auth_timeout: float = 30.0  # manager.conf authtimeout
    cdr_events: bool = True
    cel_events: bool = True
    timestamp_events: bool = True
    disabled_events: Sequence[str] = ()  # manager.conf [general] disabledevents
    endpoint_context: str = "from-carrier"
    dialplan: Mapping[str, Sequence[tuple[str, str]]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_DIALPLAN.items()})
    cdr_sink: CdrSink | None = None
    call_shape: CallShaper | None = None  # per-call outcome and timing, by dialled number
    max_write_buffer: int = 1 << 20  # unread bytes before a slow reader is dropped
    log_limit: int = 100_000  # actions and CDRs kept for inspection (oldest dropped first)
    ami_version: str = "11.0.0"

    def __post_init__(self) -> None:
        for pattern, outcome in self.rules:
            re.compile(pattern)
            _check_outcome(outcome)
        for outcome, weight in self.mix.items():
            _check_outcome(outcome)
            if weight < 0:
                raise ValueError(f"negative weight for {outcome!r}")
        if self.lines < 0:
            raise ValueError("lines must be >= 0")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale


def _check_outcome(name: str) -> None:
    if name not in OUTCOMES:
        raise ValueError(f"unknown outcome {name!r}; expected one of {', '.join(OUTCOMES)}")


class OutcomePicker:
    """Rules first, then the carrier plan; the random mix is seeded once per simulator."""

    def __init__(self, config: SimConfig) -> None:
        self._rules = [(re.compile(p), o) for p, o in config.rules]
        self._rng = random.Random(config.seed)
        weighted = [(o, w) for o, w in config.mix.items() if w > 0]
        self._names = [o for o, _ in weighted] or [ANSWER]
        self._weights = [w for _, w in weighted] or [1.0]

    def pick(self, number: str) -> str:
        for pattern, outcome in self._rules:
            if pattern.search(number):
                return outcome
        digits = "".join(ch for ch in number if ch.isdigit())
        if not digits:
            return UNALLOCATED
        key = digits[-4:][0]
        if key == "0":
            return self._rng.choices(self._names, self._weights)[0]
        return CARRIER_PLAN[key]
