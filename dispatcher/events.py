"""Facts about a call, in the past tense, as the PBX reported them.

They are the only input of the state machine in :mod:`dispatcher.calls`; the AMI adapter
(:mod:`dispatcher.ami.translate`) turns raw AMI events into these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CallEvent:
    at: datetime


@dataclass(frozen=True)
class ChannelCreated(CallEvent):
    channel: str


@dataclass(frozen=True)
class CallRinging(CallEvent):
    pass


@dataclass(frozen=True)
class CallAnswered(CallEvent):
    pass


@dataclass(frozen=True)
class HangupRequested(CallEvent):
    cause: int | None
    tech_cause: int | None


@dataclass(frozen=True)
class ChannelHungUp(CallEvent):
    cause: int
    cause_txt: str | None
    tech_cause: int | None


@dataclass(frozen=True)
class OriginateFailed(CallEvent):
    reason: int
    """The AMI Reason: with chan_pjsip only 0 or 3, so it says little about why."""


@dataclass(frozen=True)
class CdrRecorded(CallEvent):
    disposition: str
    answered_at: datetime | None = None
    authoritative: bool = False
    """Live Cdr events only decorate; a CDR read back during reconciliation settles."""
    hangup_cause: int | None = None
    """Present when the PBX records it in the CDR (``CDR(hangupcause)``); the disposition
    alone cannot tell a wrong number from a phone that did not answer."""
