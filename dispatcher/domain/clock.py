"""One notion of "now" for everything that decides by time.

Windows, retry delays, upload grace and the number cap all compare times. A use case takes a
``Clock`` and writes the times it reads from it (a contact's first ``next_attempt_at``, an
upload's ``created_at``) instead of leaving them to the database's ``now()``, so one injected
clock drives a whole scenario and tests hold on any calendar day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The system clock, timezone-aware."""
    return datetime.now(tz=UTC)
