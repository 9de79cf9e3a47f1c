"""Connecting at process start instead of on the first call, shared by web and workers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)


def warm_up(steps: Iterable[tuple[str, Callable[[], object]]]) -> None:
    """Run each step, best effort: a process must start (and answer 503, or retry) without its
    services, and whatever is down now is simply connected on first use later."""
    for name, step in steps:
        try:
            step()
        except Exception as exc:
            logger.info("warm-up: %s not reachable yet (%s)", name, type(exc).__name__)
