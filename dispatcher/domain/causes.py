"""Q.850 hangup causes: their text and what each means for the caller of our API.

With chan_pjsip the OriginateResponse Reason is only 4, 3 or 0, so busy, congestion, rejected
and invalid numbers are told apart by the Hangup cause and the SIP code (TechCause) alone.
"""

from __future__ import annotations

from typing import NamedTuple

from dispatcher.domain.status import CallStatus

CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    22: "Number changed",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    44: "Requested channel not available",
    58: "Bearer capability not available",
    88: "Incompatible destination",
    102: "Recovery on timer expiry",
    127: "Interworking, unspecified",
}

BUSY = frozenset({17})
NO_ANSWER = frozenset({19, 20})
CONGESTION = frozenset({34, 41, 42, 44})
REJECTED = frozenset({21})
INVALID_NUMBER = frozenset({1, 3, 22, 28})
NETWORK = frozenset({27, 38, 102})
NORMAL = frozenset({0, 16, 31})


class Classification(NamedTuple):
    status: CallStatus
    outcome: str


def cause_text(cause: int | None) -> str | None:
    return None if cause is None else CAUSE_TEXT.get(cause, f"Cause {cause}")


def classify_hangup(
    cause: int, tech_cause: int | None, *, answered: bool, rang: bool, canceled: bool
) -> Classification:
    """Map the end of a call to a final status and a normalised outcome."""
    S = CallStatus
    if answered:
        return Classification(S.COMPLETED, "answered")
    if canceled and cause in NORMAL:
        return Classification(S.CANCELED, "canceled")
    if cause in BUSY:
        return Classification(S.BUSY, "busy")
    if cause in NO_ANSWER:
        return Classification(S.NO_ANSWER, "no-answer")
    if cause == 18:
        # SIP 408: a phone that rang and stopped answering, or a carrier that never replied.
        if rang:
            return Classification(S.NO_ANSWER, "no-answer")
        return Classification(S.FAILED, "trunk-unreachable")
    if cause in CONGESTION:
        return Classification(S.FAILED, "congestion")
    if cause in REJECTED:
        return Classification(S.FAILED, "rejected")
    if cause in INVALID_NUMBER:
        return Classification(S.FAILED, "invalid-number")
    if cause in NETWORK:
        return Classification(S.FAILED, "network-error")
    if canceled:
        return Classification(S.CANCELED, "canceled")
    return Classification(S.FAILED, "failed")
