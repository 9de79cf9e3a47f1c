"""How a domain rule becomes a field of an API model.

A field is declared once: the domain type the views receive, the rule that checks the client's
value (a function of :mod:`dispatcher.domain` raising :class:`ValidationFailed` with the
message and field path clients see), and the JSON type the document shows for it. pydantic runs
the rule and builds ``/openapi.json`` from the same declaration, so the two cannot drift.
The rule replaces pydantic's own coercion for the field ("30" is not a timeout), which is why it
is a *plain* validator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import PlainValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import TrunkTable


@dataclass(frozen=True)
class ApiContext:
    """What the rules may consult beyond the value: the number rules and trunk table of this
    deployment, and its settings for callers and callbacks."""

    policy: NumberPolicy
    trunks: TrunkTable | None = None
    default_caller_id: str | None = None
    allow_private_callbacks: bool = False

    def caller_id(self, chosen: str | None) -> str | None:
        """The caller ID a call goes out with: the client's, else the deployment's default,
        else none (the trunk's own)."""
        return chosen if chosen is not None else self.default_caller_id or None


def api_context(info: ValidationInfo) -> ApiContext:
    context = info.context or {}
    found = context.get("api")
    if not isinstance(found, ApiContext):
        raise TypeError("validate API models with context={'api': ApiContext(...)}")
    return found


# The refusals of the validation under way. pydantic's errors pass through Rust, whose strings
# cannot hold what a hostile client sends (a lone surrogate in a variable name): the rule's own
# exception is kept here, and the error carries only its index.
_refusals: ContextVar[list[ValidationFailed] | None] = ContextVar("refusals", default=None)


@contextmanager
def collecting_refusals() -> Iterator[list[ValidationFailed]]:
    found: list[ValidationFailed] = []
    token = _refusals.set(found)
    try:
        yield found
    finally:
        _refusals.reset(token)


def refusal(exc: ValidationFailed) -> PydanticCustomError:
    """A domain refusal carried through pydantic with its message and field path intact."""
    found = _refusals.get()
    if found is None:  # validated outside :func:`web.models.refusals.validated`
        return PydanticCustomError("refused", "{message}",
                                   {"message": exc.message, "field": exc.field or ""})
    found.append(exc)
    return PydanticCustomError("refused", "refused by a rule", {"refusal": len(found) - 1})


def _takes_null(rule: Callable[[Any], Any]) -> bool:
    try:
        rule(None)
    except ValidationFailed:
        return False
    return True


def checked(rule: Callable[[Any], Any], documented: Any) -> PlainValidator:
    """A field checked by a domain rule that needs nothing but the value. The document says
    ``null`` is accepted exactly when the rule accepts it (as "the default")."""
    def validate(value: Any) -> Any:
        try:
            return rule(value)
        except ValidationFailed as exc:
            raise refusal(exc) from None
    shown = documented | None if _takes_null(rule) else documented
    return PlainValidator(validate, json_schema_input_type=shown)


def checked_with(rule: Callable[[Any, ApiContext, dict[str, Any]], Any], documented: Any, *,
                 nullable: bool) -> PlainValidator:
    """A field whose rule also reads the deployment (number rules, trunks) or a field declared
    before it (``max_lines`` is bounded by the chosen trunk's lines)."""
    def validate(value: Any, info: ValidationInfo) -> Any:
        try:
            return rule(value, api_context(info), info.data)
        except ValidationFailed as exc:
            raise refusal(exc) from None
    shown = documented | None if nullable else documented
    return PlainValidator(validate, json_schema_input_type=shown)


def checked_as(rule: Callable[[Any, str, ApiContext], Any], documented: Any) -> PlainValidator:
    """A field whose rule words its message with the field's own name (query arguments:
    ``created_after must be an ISO 8601 timestamp``)."""
    def validate(value: Any, info: ValidationInfo) -> Any:
        try:
            return rule(value, info.field_name or "", api_context(info))
        except ValidationFailed as exc:
            raise refusal(exc) from None
    return PlainValidator(validate, json_schema_input_type=documented)
