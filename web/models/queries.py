"""Query arguments: each arrives as text and is checked by a rule worded with its own name."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Literal

from pydantic import Field, PlainValidator

from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.numbers import InvalidNumber
from web.models.common import NumberText
from web.models.rules import ApiContext, checked_as

MAX_LIMIT = 500


def _limit(value: object, name: str, _: ApiContext) -> int:
    raw = str(value)
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(f"{name} must be an integer from 1 to {MAX_LIMIT}", field=name)
    return int(raw)


def _time(value: object, name: str, _: ApiContext) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{name} must be an ISO 8601 timestamp", field=name) from None
    if moment.tzinfo is None:
        raise ValidationFailed(f"{name} needs a time zone offset", field=name)
    try:
        # PostgreSQL refuses offsets beyond +-15:59 that Python accepts: send UTC.
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed(f"{name} is out of range", field=name) from None


def _uuid(value: object, name: str, _: ApiContext) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed(f"{name} must be a UUID", field=name) from None


def _number(value: object, name: str, api: ApiContext) -> str | None:
    """Any spelling of a number finds it: the argument is compared in E.164."""
    if value is None:
        return None
    try:
        return api.policy.e164(value)
    except InvalidNumber as exc:
        raise ValidationFailed(f"{name} {exc}", field=name) from None


def status_arg(states: type[Enum], word: str = "status") -> PlainValidator:
    """One of ``states``' values; anything else is named back to the client."""
    values = tuple(s.value for s in states)

    def rule(value: object, name: str, _: ApiContext) -> str | None:
        if value is not None and value not in values:
            raise ValidationFailed(f"unknown {word} {str(value)[:64]!r}", field=name)
        return value if value is None else str(value)
    return checked_as(rule, Literal[values])  # type: ignore[valid-type]


def number_arg() -> PlainValidator:
    return checked_as(_number, NumberText)


Limit = Annotated[int, checked_as(_limit, Annotated[int, Field(ge=1, le=MAX_LIMIT)])]
TimeArg = Annotated[datetime | None, checked_as(_time, datetime)]
CampaignIdArg = Annotated[uuid.UUID | None, checked_as(_uuid, uuid.UUID)]
Cursor = Annotated[str | None, Field(description="next_cursor of the previous page; anything "
                                                 "else is refused")]

