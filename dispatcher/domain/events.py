"""Facts about a call, in the past tense, as the PBX reported them.

They are the only input of the state machine in :mod:`dispatcher.domain.call_state`; the AMI adapter
(:mod:`dispatcher.adapters.ami.translate`) turns raw AMI events into these.
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
    up: bool = False
    """The channel was answered (state Up) when it hung up: proof of an answer even when the
    events that announced it were missed (a consumer reconnecting meanwhile)."""


@dataclass(frozen=True)
class LegHungUp(CallEvent):
    """Another leg of the call ended: with a Local channel, the outgoing PJSIP leg is the one
    that carries the carrier's SIP code (``TechCause``), not the originated channel."""

    cause: int | None
    tech_cause: int | None


@dataclass(frozen=True)
class OriginateFailed(CallEvent):
    reason: int
    """The AMI Reason: with chan_pjsip only 0 or 3, so it says little about why."""


@dataclass(frozen=True)
class CdrRecorded(CallEvent):
    """The PBX's own record of the call, written when it ended (``at`` is the end)."""

    disposition: str
    answered_at: datetime | None = None
    authoritative: bool = False
    """A live Cdr event proves an answer, and refines a call closed without a cause of its
    own; a CDR read back during reconciliation (from the ``cdr`` table or the stored Cdr
    event) settles a call whose end was not seen."""
    hangup_cause: int | None = None
    """Present when the PBX records it in the CDR (``CDR(hangupcause)``); the disposition
    alone cannot tell a wrong number from a phone that did not answer."""


@dataclass(frozen=True)
class CdrEvidence:
    """How the PBX's own record says a call ended, read back after the fact (the ``cdr``
    table, or the Cdr event the consumer stored): what reconciliation settles a call from."""

    disposition: str
    answered_at: datetime | None
    ended_at: datetime
    hangup_cause: int | None = None
