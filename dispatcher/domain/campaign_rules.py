"""Campaign rules: the lifecycle, the retry policy, and what a finished call means for its
contact. Plain Python, no I/O; call windows are in :mod:`dispatcher.domain.call_windows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from dispatcher.domain.errors import Conflict, ValidationFailed

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

