"""The event log's rows, formatted for PostgreSQL ahead of the transaction that stores them.

Formatting (JSON, escaping for array literals) is much of the event consumer's work per event;
it lives here, apart from the repositories, so the consumer's reading thread can do it while the
writing thread waits for the database (``dispatcher.usecases.record_events.prepare``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any


@dataclass
class EventLog:
    """A batch's rows for the event log, formatted ahead of its transaction.

    Building them (JSON, escaping) is much of the consumer's work per event; doing it before
    the transaction lets the consumer do it while the database is busy with the batch before.
    The content key (``sha256`` of attempt, name and JSON) is left to PostgreSQL, which has a
    core to spare while the consumer's Python has none.
    """

    attempt_ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    def add(self, attempt_id: uuid.UUID, name: str, at: datetime,
            items: Sequence[tuple[str, str]]) -> None:
        """Add one AMI event; ``name`` must be a plain event name (no quotes)."""
        self.attempt_ids.append(uuid_text(attempt_id))
        self.names.append(name)
        self.times.append(repr(at.timestamp()))
        self.bodies.append(_json_object(items).replace("\\", "\\\\").replace('"', '\\"'))

    def __len__(self) -> int:
        return len(self.names)

    def extend(self, other: EventLog) -> None:
        for mine, theirs in zip(self.columns(), other.columns(), strict=True):
            mine.extend(theirs)

    def columns(self) -> tuple[list[str], ...]:
        return self.attempt_ids, self.names, self.times, self.bodies

    def arrays(self) -> list[str]:
        return [array_literal(column) for column in self.columns()]


def _json_object(items: Sequence[tuple[str, str]]) -> str:
    """The headers as a JSON object, in the PBX's order; built by hand when no header repeats
    (twice as fast as ``json.dumps`` of a dict, and this runs for every event)."""
    if len(dict(items)) < len(items):
        return json.dumps(as_payload(items))
    return "{" + ",".join([_json_string(key) + ":" + _json_string(value)
                           for key, value in items]) + "}"


@lru_cache(maxsize=8192)
def uuid_text(value: uuid.UUID) -> str:
    """A call's dozen events share its id: format it once."""
    return str(value)


def array_literal(values: list[str]) -> str:
    """A PostgreSQL array literal of values that hold no quote or backslash (escaped first, or
    ids, names and times that cannot)."""
    return '{"' + '","'.join(values) + '"}' if values else "{}"


def as_payload(items: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Keep an AMI message whose headers repeat as JSON: repeats become lists, so nothing is
    lost."""
    payload: dict[str, Any] = {}
    for key, value in items:
        if key in payload:
            existing = payload[key]
            payload[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            payload[key] = value
    return payload
