"""Call statuses and their ranks; the state machine only ever moves a call up the ranks."""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    """Twilio's vocabulary, because REST users already know it."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_final(self) -> bool:
        return self.rank >= FINAL_RANK


FINAL_RANK = 90
_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 10,
    CallStatus.RINGING: 20,
    CallStatus.IN_PROGRESS: 30,
    **{s: FINAL_RANK for s in (CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.NO_ANSWER,
                               CallStatus.FAILED, CallStatus.CANCELED)},
}
FINAL_STATUSES = frozenset(s for s in CallStatus if s.is_final)
ACTIVE_STATUSES = frozenset(s for s in CallStatus if not s.is_final)
