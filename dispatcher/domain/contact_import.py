"""Reading contact uploads: CSV or JSON lines, row by row, each row accepted or rejected alone.

A bad row never spoils the upload: it is reported with its line number and reason, and the
valid rows are kept. Rows are validated with the same rules as a single API call (numbers,
variables, metadata), so nothing a CSV holds can reach the AMI socket unchecked.

CSV: a header row naming ``to`` (required), optionally ``timezone`` and ``metadata`` (a JSON
text); every other column is a dialplan variable of that name (a blank cell sets nothing).
JSON lines: one object per line with ``to``, ``variables``, ``timezone`` and ``metadata``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from dispatcher.domain.call_requests import (
    MAX_VARIABLES,
    VARIABLE_VALUE,
    parse_metadata,
    parse_variables,
    variable_name_problem,
)
from dispatcher.domain.call_windows import check_timezone
from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.numbers import InvalidNumber, NumberPolicy

CSV, NDJSON = "csv", "ndjson"
CSV_FIELDS = frozenset({"to", "timezone", "metadata"})
JSON_FIELDS = frozenset({"to", "timezone", "metadata", "variables"})
MAX_REASON = 200


class Contact(NamedTuple):
    line: int
    to: str
    timezone: str | None
    variables: dict[str, str]
    metadata: Any


@dataclass(frozen=True)
class Reject:
    line: int
    reason: str


RawRow = tuple[int, dict[str, Any]]  # (line number in the file, fields as read)


def csv_rows(lines: Iterable[str], line_offset: int = 0) -> Iterator[RawRow]:
    """Rows of a CSV text with their file line numbers (the header is line 1 of the chunk;
    a record with quoted line breaks is numbered by the line it starts on).

    A row whose field count differs from the header is passed on with a ``None`` key, so it
    is rejected with its line number rather than failing the upload.
    """
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise ValidationFailed("the upload is empty; CSV needs a header row naming 'to'")
    header = [h.strip() for h in header]
    check_csv_header(header)
    previous_end = reader.line_num
    for values in reader:
        line = line_offset + previous_end + 1
        previous_end = reader.line_num
        if not values or values == [""]:
            continue  # blank line
        if len(values) != len(header):
            yield line, {None: f"expected {len(header)} columns, found {len(values)}"}
            continue
        yield line, dict(zip(header, values, strict=True))


def check_csv_header(header: list[str]) -> None:
    if "to" not in header:
        raise ValidationFailed("the CSV header must name a 'to' column", field="to")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise ValidationFailed(f"the CSV header names {name[:64]!r} twice")
        seen.add(name)
        if name in CSV_FIELDS:
            continue
        problem = variable_name_problem(name)
        if problem:
            raise ValidationFailed(f"CSV column {name[:64]!r} {problem} (columns other than "
                                   "to, timezone and metadata are call variables)")


def ndjson_rows(lines: Iterable[str], line_offset: int = 0) -> Iterator[RawRow]:
    for number, text in enumerate(lines, start=1):
        line = line_offset + number
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            yield line, {None: "not valid JSON"}
            continue
        if not isinstance(value, dict):
            yield line, {None: "each line must be a JSON object"}
            continue
        unknown = sorted(set(value) - JSON_FIELDS)
        if unknown:
            yield line, {None: f"unknown field {str(unknown[0])[:40]!r}"}
            continue
        yield line, value


def validate(rows: Iterable[RawRow], policy: NumberPolicy,
             json_fields: bool) -> tuple[list[Contact], list[Reject]]:
    """Split rows into contacts and rejects. Runs in worker processes for big uploads, so it
    takes and returns plain data only."""
    contacts: list[Contact] = []
    rejects: list[Reject] = []
    for line, fields in rows:
        try:
            contacts.append(_contact(line, fields, policy, json_fields))
        except (ValidationFailed, InvalidNumber) as exc:
            rejects.append(Reject(line, str(exc)[:MAX_REASON]))
    return contacts, rejects


def _contact(line: int, fields: dict[Any, Any], policy: NumberPolicy,
             json_fields: bool) -> Contact:
    if None in fields:
        raise ValidationFailed(str(fields[None]))
    try:
        to = policy.e164(fields.get("to"))
    except InvalidNumber as exc:
        raise InvalidNumber(f"to {exc}") from None
    tz = fields.get("timezone")
    timezone = check_timezone(tz) if tz not in (None, "") else None
    if json_fields:
        variables = parse_variables(fields.get("variables"))
        metadata = parse_metadata(fields.get("metadata"))
    else:
        variables = _csv_variables(fields)
        cell = fields.get("metadata")
        metadata = parse_metadata(_json_cell(cell)) if cell else None
    return Contact(line, to, timezone, variables, metadata)


def _csv_variables(fields: dict[str, str]) -> dict[str, str]:
    """The header's names were checked once (:func:`check_csv_header`); each row's values
    get the same check as an API call's variables."""
    variables = {k: v for k, v in fields.items() if v and k not in CSV_FIELDS}
    for value in variables.values():
        if not VARIABLE_VALUE.fullmatch(value):
            return parse_variables(variables)  # raises, naming the field and the rule
    if len(variables) > MAX_VARIABLES:
        return parse_variables(variables)
    return variables


def _json_cell(text: str | None) -> Any:
    if text in (None, ""):
        return None
    try:
        return json.loads(text)  # type: ignore[arg-type]
    except (ValueError, RecursionError):
        raise ValidationFailed("metadata must be a JSON text") from None
