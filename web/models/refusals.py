"""Validating a client's input with an API model, and telling the client what was wrong in the
API's own error shape: one message and one field path (``[3].to``, ``windows[0].start``).

The rules' messages pass through unchanged (:mod:`web.models.rules`); what pydantic itself
refuses (an unknown or missing field, a body that is not an object) is worded here.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from dispatcher.domain.errors import ValidationFailed
from web.models.rules import ApiContext, collecting_refusals

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: object, context: ApiContext | None = None, *,
              unknown: str = "field", item: str = "call") -> M:
    """``data`` as ``model``, or :class:`ValidationFailed` for its first problem.

    ``unknown`` names what an extra key is ("field", "query parameter"); ``item`` names the
    elements of a list body ("call 3: ...").
    """
    with collecting_refusals() as refusals:
        try:
            return model.model_validate(data, context={"api": context} if context else None)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            raise first_refusal(errors, refusals, unknown=unknown, item=item) from None


def first_refusal(errors: list[ErrorDetails], refusals: list[ValidationFailed], *,
                  unknown: str = "field", item: str = "call") -> ValidationFailed:
    """The problem a client should hear about first: the first element of a list body with
    any, and within it an unknown field before the others (a misspelt name explains the rest).
    """
    head = errors[0]
    scope = head["loc"][:1] if head["loc"] and isinstance(head["loc"][0], int) else ()
    same = [e for e in errors if e["loc"][:len(scope)] == scope]
    chosen = next((e for e in same if e["type"] == "extra_forbidden"), same[0])
    message, field = _described(chosen, refusals, unknown, skip=len(scope))
    if scope:
        index = scope[0]
        message = f"{item} {index}: {message}"
        field = f"[{index}].{field}" if field else f"[{index}]"
    return ValidationFailed(message, field=field or None)


def _described(error: ErrorDetails, refusals: list[ValidationFailed], unknown: str,
               skip: int) -> tuple[str, str]:
    loc = list(error["loc"][skip:])
    path = _path(loc)
    kind = error["type"]
    if kind == "refused":
        ctx: dict[str, Any] = error.get("ctx") or {}
        rule = refusals[ctx["refusal"]]
        named = rule.field or ""
        # The rule names the field itself (``variables.NAME``); keep what leads to it.
        where = _path(loc[:-1]) if loc and named.split(".")[0].split("[")[0] == loc[-1] \
            else path
        return rule.message, _join(where, named) if named else path
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else ""
        return f"unknown {unknown} {name[:64]!r}", path[:100]
    if kind == "missing":
        return f"{path} is required", path
    if kind == "string_unicode":  # a key with a lone UTF-16 surrogate (\ud800)
        return "the body holds a name that is not valid Unicode text", path
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return ("the request body must be a JSON object" if not path
                else f"{path} must be an object"), path
    return f"{path or 'the body'}: {error['msg']}", path


def _path(loc: list[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _join(where: str, named: str) -> str:
    return f"{where}.{named}" if where else named
