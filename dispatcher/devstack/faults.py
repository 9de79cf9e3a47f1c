"""Fault injection for the fault tests: die with SIGKILL at a named step of a dial.

A self-inflicted SIGKILL at a checkpoint is exactly what ``kill -9`` from outside does at that
moment, but lands on the step under test every time instead of by luck. Off unless
``DISPATCHER_FAULT_KILL_AT`` names steps (comma-separated) and ``DISPATCHER_FAULT_KILL_RATE``
gives the share of dials to kill; never set them in production.
"""

from __future__ import annotations

import os
import random
import signal

STEPS = ("before-claim", "after-claim", "after-originate-sent", "after-originate-reply")
"""The steps of a dial, in a worker."""
AFTER_ADMISSION = "after-admission"
"""Between giving a call a line and publishing its task, in whichever process admits (the API,
a worker, the event consumer, the sweeper): kept apart from :data:`STEPS`, since killing the
API there fails the client's request."""
_AT = frozenset(s for s in os.environ.get("DISPATCHER_FAULT_KILL_AT", "").split(",") if s)
_RATE = float(os.environ.get("DISPATCHER_FAULT_KILL_RATE", "0") or 0)


def checkpoint(step: str) -> None:
    if step in _AT and random.random() < _RATE:
        os.kill(os.getpid(), signal.SIGKILL)
