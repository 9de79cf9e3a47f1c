"""Do-not-call lists: named lists of numbers that campaigns apply, checked when the hopper
picks a contact and again when a worker claims its call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from dispatcher.adapters.db.dnc import DncRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import DncListRow
from dispatcher.domain.campaign_requests import LIST_NAME
from dispatcher.domain.errors import Conflict, NotFound, ValidationFailed
from dispatcher.domain.numbers import InvalidNumber, NumberPolicy


def _lenient(policy: NumberPolicy) -> NumberPolicy:
    """The region allow-list does not apply: blocking a number is always allowed."""
    return NumberPolicy(default_region=policy.default_region, allowed_regions=frozenset())


def all_lists(sessions: Sessions) -> list[tuple[DncListRow, int]]:
    """Every list with its count of numbers."""
    with sessions() as session:
        return DncRepository(session).lists()


def list_numbers(sessions: Sessions, name: str, limit: int,
                 after: str | None) -> tuple[list[str], bool]:
    """A page of the list's numbers in order, and whether there are more."""
    row = get_list(sessions, name)
    with sessions() as session:
        found = DncRepository(session).numbers(row.id, limit + 1, after)
    return found[:limit], len(found) > limit


def lookup(sessions: Sessions, name: str, number: str, policy: NumberPolicy) -> list[str]:
    """The number, in E.164, if it is on the list (any spelling of it matches)."""
    row = get_list(sessions, name)
    try:
        e164 = _lenient(policy).e164(number)
    except InvalidNumber as exc:
        raise ValidationFailed(f"number {exc}", field="number") from None
    with sessions() as session:
        return [e164] if DncRepository(session).contains(row.id, e164) else []


def create_list(sessions: Sessions, list_name: str, description: str | None) -> DncListRow:
    """``list_name`` and ``description`` as the API's model checked them
    (:mod:`dispatcher.domain.dnc_rules`)."""
    with sessions.begin() as session:
        repo = DncRepository(session)
        if repo.by_name(list_name) is not None:
            raise Conflict(f"a list named {list_name!r} exists")
        row = DncListRow(id=uuid.uuid4(), name=list_name, description=description)
        repo.add_list(row)
        session.refresh(row)
    return row


def _known(name: str) -> str:
    """A path segment that cannot name a list is simply not found (and never reaches SQL)."""
    if not LIST_NAME.fullmatch(name):
        raise NotFound("no such do-not-call list")
    return name


def get_list(sessions: Sessions, name: str) -> DncListRow:
    _known(name)
    with sessions() as session:
        row = DncRepository(session).by_name(name)
    if row is None:
        raise NotFound("no such do-not-call list")
    return row


@dataclass(frozen=True)
class Added:
    added: int
    invalid: list[dict[str, object]]


def add_numbers(sessions: Sessions, name: str, numbers: list[str],
                    policy: NumberPolicy) -> Added:
    """Numbers are stored in E.164, like contacts and calls, so any spelling matches. The
    region allow-list does not apply: blocking a number is always allowed."""
    _known(name)
    lenient = _lenient(policy)
    valid: list[str] = []
    invalid: list[dict[str, object]] = []
    for index, number in enumerate(numbers):
        try:
            valid.append(lenient.e164(number))
        except InvalidNumber as exc:
            invalid.append({"index": index, "reason": str(exc)})
    with sessions.begin() as session:
        repo = DncRepository(session)
        row = repo.by_name(name)
        if row is None:
            raise NotFound("no such do-not-call list")
        added = repo.add_numbers(row.id, sorted(set(valid)))
    return Added(added, invalid)


def remove_number(sessions: Sessions, name: str, number: str,
                      policy: NumberPolicy) -> None:
    _known(name)
    lenient = _lenient(policy)
    try:
        e164 = lenient.e164(number)
    except InvalidNumber:
        raise NotFound("that number is not on the list") from None
    with sessions.begin() as session:
        repo = DncRepository(session)
        row = repo.by_name(name)
        if row is None:
            raise NotFound("no such do-not-call list")
        if not repo.remove_number(row.id, e164):
            raise NotFound("that number is not on the list")
