"""Logging: one JSON object per line, the call's id on every line about a call, and phone
numbers masked, so logs can be shipped anywhere without leaking who was called."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TextIO

_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)
_NUMBER = re.compile(r"(?<![\w-])(\+?\d[\d ]{5,17}\d)(?![\w-])")


def mask_numbers(text: str) -> str:
    """``+989121231001`` -> ``+98912*****01``: enough to tell calls apart, not to dial."""
    def mask(match: re.Match[str]) -> str:
        digits = match.group(1)
        if len(re.sub(r"\D", "", digits)) < 7:
            return digits
        keep_head = 6 if digits.startswith("+") else 5
        return digits[:keep_head] + "*" * (len(digits) - keep_head - 2) + digits[-2:]
    return _NUMBER.sub(mask, text)


@contextmanager
def call_context(call_id: object) -> Iterator[None]:
    """Tag every log line inside with the call's id."""
    token = _call_id.set(str(call_id))
    try:
        yield
    finally:
        _call_id.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, mask: bool = True) -> None:
        super().__init__()
        self.mask = mask

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if self.mask:
            message = mask_numbers(message)
        entry = {"ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
                 "level": record.levelname, "logger": record.name, "message": message}
        call_id = getattr(record, "call_id", None) or _call_id.get()
        if call_id:
            entry["call_id"] = str(call_id)
        campaign_id = getattr(record, "campaign_id", None)
        if campaign_id:
            entry["campaign_id"] = str(campaign_id)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal (``make run``), masked the same way."""

    def __init__(self, mask: bool = True) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.mask = mask

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        call_id = getattr(record, "call_id", None) or _call_id.get()
        if call_id:
            line += f" [call {call_id}]"
        return mask_numbers(line) if self.mask else line


class RoutineTicks(logging.Filter):
    """Turns Celery's INFO lines about routine tasks (received, succeeded, beat's "sending due
    task") into DEBUG lines, so an idle stack prints nothing and a terminal shows calls, not
    ticks. Celery passes the task's name among a record's arguments; that is what is matched."""

    def __init__(self, task_names: Collection[str]) -> None:
        super().__init__()
        self.task_names = frozenset(task_names)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._about_routine(record.args):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True

    def _about_routine(self, args: object) -> bool:
        values = args.values() if isinstance(args, dict) else args
        if not isinstance(values, Collection) or isinstance(values, str):
            return False
        return any(isinstance(v, str) and v in self.task_names for v in values)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "json", mask: bool = True) -> None:
    """Add our handler to the root logger, once per process (entry points only)."""
    root = logging.getLogger()
    if any(isinstance(h, _StderrHandler) for h in root.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter(mask) if fmt == "json" else TextFormatter(mask))
    root.addHandler(handler)
    root.setLevel(level)
