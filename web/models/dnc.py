"""The do-not-call list endpoints' models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from dispatcher.domain.campaign_requests import LIST_NAME, parse_list_name
from dispatcher.domain.dnc_rules import E164, MAX_BATCH, parse_description, parse_numbers
from dispatcher.domain.errors import ValidationFailed
from web.models.common import NumberText, Request, Response
from web.models.queries import Limit
from web.models.rules import ApiContext, checked, checked_as

ListNameIn = Annotated[str, Field(pattern=LIST_NAME.pattern, examples=["complaints"])]


class DncListBody(Request):
    name: Annotated[str, checked(parse_list_name, ListNameIn)]
    description: Annotated[str | None, checked(parse_description, Annotated[
        str, Field(max_length=200)])] = None

    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"name": "complaints", "description": "asked not to be called"}]}}


class DncNumbersBody(Request):
    numbers: Annotated[list[str], checked(parse_numbers, Annotated[
        list[Annotated[str, Field(max_length=32)]],
        Field(min_length=1, max_length=MAX_BATCH,
              description="any spelling; stored in E.164")])]

    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"numbers": ["09121234567", "+98 912 123 4568"]}]}}


def _cursor(value: object, name: str, _: ApiContext) -> str | None:
    """A page ends on a stored number, in E.164; anything else was not issued by us."""
    if value is not None and not (isinstance(value, str) and E164.fullmatch(value)):
        raise ValidationFailed(f"{name} is not valid", field=name)
    return value


class DncNumberQuery(Request):
    number: Annotated[str | None, Field(description="check one number, in any spelling")] = None
    cursor: Annotated[str | None, checked_as(_cursor, Annotated[str, Field(
        pattern=E164.pattern, description="next_cursor of the previous page")])] = None
    limit: Limit = 50


class DncList(Response):
    name: str
    description: str | None
    numbers: int = Field(description="how many numbers it holds")
    created_at: datetime | None


class DncLists(Response):
    data: list[DncList]


class Invalid(Response):
    index: int = Field(description="the number's place in the request")
    reason: str


class DncAdded(Response):
    added: int = Field(description="numbers new to the list")
    invalid: list[Invalid]


class DncNumbers(Response):
    data: list[str]
    next_cursor: str | None


__all__ = ["DncAdded", "DncList", "DncListBody", "DncLists", "DncNumberQuery", "DncNumbers",
           "DncNumbersBody", "NumberText"]
