"""AMI event -> domain event, as a pure lookup table.

Correlation: every attempt is originated with ``ChannelId = ActionID = attempt UUID``. Asterisk
makes that the ``Uniqueid`` and ``Linkedid`` of the originated channel, ``DestUniqueid`` in the
Dial events, and echoes it in ``OriginateResponse``. Channels a dialplan creates later share the
``Linkedid``. Anything without one of our UUIDs is someone else's call and is ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.domain import events as ev

# Events worth keeping in a call's event log; the rest (CEL, Newexten, RTCP, ...) is noise.
RECORDED_EVENTS = frozenset({
    "Newchannel", "VarSet", "Newstate", "DialBegin", "DialState", "DialEnd", "HangupRequest",
    "SoftHangupRequest", "Hangup", "OriginateResponse", "Cdr",
})


class Translated(NamedTuple):
    attempt_id: uuid.UUID
    name: str
    at: datetime
    event: ev.CallEvent | None


def event_time(message: AMIMessage, default: datetime | None = None) -> datetime:
    """The PBX's own clock when ``timestampevents`` is on, else the time we read it."""
    raw = message.headers.get("timestamp")
    if raw:
        try:
            return datetime.fromtimestamp(float(raw), tz=UTC)
        except (ValueError, OverflowError, OSError):  # "nan", "inf", "1e300": not a time
            pass
    return default or datetime.now(tz=UTC)


def _uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    return _parse_uuid(value)


@lru_cache(maxsize=8192)
def _parse_uuid(value: str) -> uuid.UUID | None:
    """Cached: a call's dozen events all carry the same ids."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def correlate(message: AMIMessage) -> tuple[uuid.UUID | None, bool]:
    """Return (attempt id, whether the event is about the originated channel itself)."""
    name, headers = message.name, message.headers
    if name == "OriginateResponse":
        key = _uuid(headers.get("actionid")) or _uuid(headers.get("uniqueid"))
        return key, True
    if name in ("DialBegin", "DialState", "DialEnd"):
        key = _uuid(headers.get("destlinkedid"))
        return key, key is not None and _uuid(headers.get("destuniqueid")) == key
    if name == "Cdr":
        key = _uuid(headers.get("uniqueid"))
        return key, key is not None
    key = _uuid(headers.get("linkedid"))
    return key, key is not None and _uuid(headers.get("uniqueid")) == key


def _newchannel(m: AMIMessage, at: datetime) -> ev.CallEvent:
    return ev.ChannelCreated(at, channel=m.get("Channel") or "")


def _newstate(m: AMIMessage, at: datetime) -> ev.CallEvent | None:
    state = m.get("ChannelState")
    if state == "5":
        return ev.CallRinging(at)
    if state == "6":
        return ev.CallAnswered(at)
    return None


def _dialstate(m: AMIMessage, at: datetime) -> ev.CallEvent | None:
    return ev.CallRinging(at) if m.get("DialStatus") == "RINGING" else None


def _dialend(m: AMIMessage, at: datetime) -> ev.CallEvent | None:
    return ev.CallAnswered(at) if m.get("DialStatus") == "ANSWER" else None


def _originate_response(m: AMIMessage, at: datetime) -> ev.CallEvent:
    if (m.get("Response") or "").lower() == "success":
        return ev.CallAnswered(at)
    return ev.OriginateFailed(at, reason=_int(m.get("Reason")) or 0)


def _hangup_request(m: AMIMessage, at: datetime) -> ev.CallEvent:
    return ev.HangupRequested(at, cause=_int(m.get("Cause")), tech_cause=_int(m.get("TechCause")))


def _hangup(m: AMIMessage, at: datetime) -> ev.CallEvent:
    return ev.ChannelHungUp(
        at, cause=_int(m.get("Cause")) or 0, cause_txt=m.get("Cause-txt"),
        tech_cause=_int(m.get("TechCause")), up=m.get("ChannelState") == "6",
    )


def _leg_hangup(m: AMIMessage, at: datetime) -> ev.CallEvent | None:
    """Another leg's end: with a Local channel, only the PJSIP leg carries the SIP code."""
    tech = _int(m.get("TechCause"))
    return ev.LegHungUp(at, cause=_int(m.get("Cause")), tech_cause=tech) if tech else None


def _cdr(m: AMIMessage, at: datetime) -> ev.CallEvent:
    return ev.CdrRecorded(pbx_local_time(m, "EndTime") or at,
                          disposition=m.get("Disposition") or "",
                          answered_at=pbx_local_time(m, "AnswerTime"))


def pbx_local_time(m: AMIMessage, header: str) -> datetime | None:
    """A CDR time (``2026-12-06 10:15:02``): the PBX's local time, with no zone. The zone is
    inferred from the event's own ``Timestamp`` (epoch; the Cdr event is sent when the call
    ends), rounded to a quarter hour; without one the PBX is taken to run on UTC."""
    raw = m.get(header)
    if not raw:
        return None
    try:
        local = datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    offset = 0.0
    stamp, end = m.headers.get("timestamp"), m.get("EndTime")
    if stamp and end:
        try:
            sent = float(stamp)
            ended = datetime.strptime(end.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            offset = round((ended.timestamp() - sent) / 900) * 900
        except (ValueError, OverflowError):
            offset = 0.0
    return datetime.fromtimestamp(local.timestamp() - offset, tz=UTC)


_HANDLERS: dict[str, Callable[[AMIMessage, datetime], ev.CallEvent | None]] = {
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "DialState": _dialstate,
    "DialEnd": _dialend,
    "OriginateResponse": _originate_response,
    "HangupRequest": _hangup_request,
    "Hangup": _hangup,
    "Cdr": _cdr,
}


def translate(message: AMIMessage, received_at: datetime | None = None) -> Translated | None:
    """Map one AMI event to our attempt id and domain event, or None if it is not ours."""
    name = message.name
    if name not in RECORDED_EVENTS or message.kind != "event":
        return None
    attempt_id, primary = correlate(message)
    if attempt_id is None:
        return None
    if name == "VarSet" and (message.headers.get("variable") or "").lstrip("_") != "CALL_ID":
        return None
    at = event_time(message, received_at)
    if primary:
        handler = _HANDLERS.get(name)
    else:
        handler = _leg_hangup if name in ("Hangup", "HangupRequest") else None
    domain_event = handler(message, at) if handler else None
    return Translated(attempt_id, name, at, domain_event)
