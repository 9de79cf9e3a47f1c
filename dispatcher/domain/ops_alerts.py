"""When something is wrong, say it in plain words: the rules behind the operations page's
alerts. Each names what is wrong, where, and what it means for calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

FAILING_AFTER = 5  # ended attempts, all failed, before a trunk is called failing
CALLBACKS_PILING = 50  # due deliveries not being sent
CALLBACKS_LATE_SECONDS = 300  # the oldest due delivery waited this long


@dataclass(frozen=True)
class TrunkHealth:
    name: str
    ami: str  # the event consumer's AMI session: connected, disconnected or unknown
    watched: bool  # an event consumer sees its PBX (admission holds calls while not)
    paused: bool  # an operator paused it
    ended: int = 0  # attempts that ended in the last minutes
    failed: int = 0  # of which failed
    last_outcome: str = ""


@dataclass(frozen=True)
class Alert:
    level: str  # "critical" (calls are held or lost) or "warning"
    text: str
    subject: str  # the trunk, or "callbacks"


def alerts(trunks: list[TrunkHealth], callbacks_due: int, oldest_due: datetime | None,
           now: datetime, *, window_minutes: int = 10) -> list[Alert]:
    found: list[Alert] = []
    for t in trunks:
        if not t.watched:
            found.append(Alert("critical", f"No event consumer sees the PBX of trunk {t.name}: "
                                           "new calls wait until one does (check the events "
                                           "service and its AMI login).", t.name))
        elif t.ami != "connected":
            found.append(Alert("warning", f"The event consumer's AMI session for trunk "
                                          f"{t.name} is {t.ami}.", t.name))
        if t.ended >= FAILING_AFTER and t.failed == t.ended:
            found.append(Alert("critical", f"All {t.ended} calls on trunk {t.name} in the last "
                                           f"{window_minutes} minutes failed (the last: "
                                           f"{t.last_outcome}); check the trunk with the "
                                           "carrier.", t.name))
        if t.paused:
            found.append(Alert("warning", f"Trunk {t.name} is paused by an operator: calls "
                                          "wait in line (dispatcher trunk resume).", t.name))
    late = (now - oldest_due).total_seconds() if oldest_due is not None else 0.0
    if callbacks_due >= CALLBACKS_PILING or (callbacks_due and late >= CALLBACKS_LATE_SECONDS):
        found.append(Alert("warning", f"{callbacks_due} status callback(s) are waiting to be "
                                      f"delivered; the oldest for {int(late // 60)} min (check "
                                      "the workers and the receiving servers).", "callbacks"))
    return found
