"""Building the OpenAPI document from the API's models.

Every schema in the document comes from a pydantic model in :mod:`web.models` (the same ones
the views validate with); what is written here is only which operation takes and answers with
which model, and the words for people.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import models_json_schema

from web.models.common import Error, IdempotencyKeyText
from web.models.dnc import ListNameIn

REF = "#/components/schemas/{model}"
Schema = dict[str, Any]
# The body of a response, for the document: a model, several (``oneOf``), or a media type of
# text (CSV, Prometheus) with no model.
Answer = type[BaseModel] | tuple[type[BaseModel], ...] | Literal["text/csv", "text/plain"] | None

PATH_PARAMETERS: dict[str, Any] = {
    "call_id": uuid.UUID, "campaign_id": uuid.UUID, "upload_id": uuid.UUID,
    "name": ListNameIn, "number": Annotated[str, Field(description="any spelling")],
}
ERROR_WORDS = {
    400: "the request is malformed", 401: "no valid API key", 403: "the API key lacks the "
    "scope", 404: "no such resource", 409: "the resource's state does not allow it",
    413: "the body is over the size limit", 415: "wrong content type",
    422: "a field is invalid; `field` says which", 429: "per-key rate or concurrent-call "
    "limit; see Retry-After", 503: "PostgreSQL is unavailable; retry after `Retry-After` "
    "seconds",
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    answer: Answer
    status: int = 200
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | tuple[type[BaseModel], ...] | None = None
    body_types: tuple[str, ...] = ("application/json",)
    body_required: bool = True
    query: type[BaseModel] | None = None
    headers: tuple[tuple[str, Schema], ...] = ()
    description: str = ""
    also: dict[int, tuple[str, Answer]] = field(default_factory=dict)
    public: bool = False


IDEMPOTENCY_KEY = ("Idempotency-Key", TypeAdapter(IdempotencyKeyText).json_schema())
TEXT = TypeAdapter(str).json_schema()


class _Collector:
    """Gathers the models an operation names so all their schemas are made in one pass (shared
    parts become one component each)."""

    def __init__(self) -> None:
        self.models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []

    def add(self, models: type[BaseModel] | tuple[type[BaseModel], ...] | None,
            mode: Literal["validation", "serialization"]) -> None:
        for model in models if isinstance(models, tuple) else (models,) if models else ():
            if (model, mode) not in self.models:
                self.models.append((model, mode))


def build_document(operations: list[Operation], info: Schema) -> Schema:
    collector = _Collector()
    collector.add(Error, "serialization")
    for op in operations:
        collector.add(op.body, "validation")
        for answer in [op.answer, *(a for _, a in op.also.values())]:
            if not isinstance(answer, str):
                collector.add(answer, "serialization")
    refs, defs = models_json_schema(collector.models, ref_template=REF)
    schemas = _Schemas(refs, defs.get("$defs", {}))
    paths: Schema = {}
    for op in operations:
        item: Schema = {"summary": op.summary, "responses": schemas.responses(op),
                        "parameters": _parameters(op, schemas.components)}
        if op.description:
            item["description"] = op.description
        if op.public:
            item["security"] = []
        if op.body is not None or "application/json" not in op.body_types:
            item["requestBody"] = schemas.request_body(op)
        paths.setdefault(op.path, {})[op.method] = item
    _tidy(schemas.components)
    _tidy(paths)
    return {"openapi": "3.1.0", "info": info, "security": [{"bearer": []}],
            "components": {"schemas": _used(schemas.components, paths), "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"}}},
            "paths": paths}


Mode = Literal["validation", "serialization"]


@dataclass
class _Schemas:
    refs: dict[tuple[type[BaseModel], Mode], Schema]
    components: Schema

    def ref(self, models: type[BaseModel] | tuple[type[BaseModel], ...], mode: Mode) -> Schema:
        if isinstance(models, tuple):
            return {"oneOf": [self.refs[(m, mode)] for m in models]}
        return self.refs[(models, mode)]

    def content(self, answer: Answer) -> Schema:
        if answer is None:
            return {}
        if isinstance(answer, str):
            return {"content": {answer: {"schema": TEXT}}}
        return {"content": {"application/json": {"schema": self.ref(answer, "serialization")}}}

    def responses(self, op: Operation) -> Schema:
        """The operation's answers; every /v1 operation can also meet a missing or
        insufficient key, a per-key limit, or a database outage."""
        found: Schema = {str(op.status): {"description": "OK", **self.content(op.answer)}}
        for status, (words, answer) in op.also.items():
            found[str(status)] = {"description": words, **self.content(answer)}
        statuses = set(op.errors) | (set() if op.public else {401, 403, 429, 503})
        for status in sorted(statuses):
            found[str(status)] = {"description": ERROR_WORDS[status], **self.content(Error)}
            if status in (429, 503):
                found[str(status)]["headers"] = {"Retry-After": {"schema": TEXT}}
        return found

    def request_body(self, op: Operation) -> Schema:
        schema = self.ref(op.body, "validation") if op.body is not None else {}
        return {"required": op.body_required, "content": {
            kind: {"schema": schema if kind == "application/json" else TEXT}
            for kind in op.body_types}}


def _parameters(op: Operation, components: Schema) -> list[Schema]:
    found = [{"name": name, "in": "path", "required": True,
              "schema": TypeAdapter(PATH_PARAMETERS[name]).json_schema()}
             for name in re.findall(r"{(\w+)}", op.path)]
    found += [{"name": name, "in": "header", "schema": schema} for name, schema in op.headers]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        components.update(schema.pop("$defs", {}))
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            parameter = {"name": name, "in": "query", "required": name in required,
                         "schema": {k: v for k, v in prop.items() if k != "description"}}
            if "description" in prop:
                parameter["description"] = prop["description"]
            found.append(parameter)
    return found


def _tidy(node: Any, *, names: bool = False) -> None:
    """Drop what pydantic adds for Python's sake: titles made from field names, ``null``
    defaults (absent and null mean the same to every endpoint), and ``null`` in the types of
    query arguments, which are text or absent."""
    if isinstance(node, list):
        for child in node:
            _tidy(child)
        return
    if not isinstance(node, dict):
        return
    if not names:
        if isinstance(node.get("title"), str):
            del node["title"]
        if "default" in node and node["default"] is None:
            del node["default"]
        if node.get("in") == "query" and "anyOf" in node.get("schema", {}):
            kinds = [k for k in node["schema"].pop("anyOf") if k != {"type": "null"}]
            node["schema"].update(kinds[0] if len(kinds) == 1 else {"anyOf": kinds})
    for key, child in node.items():
        _tidy(child, names=key in ("properties", "paths", "schemas") and not names)


def _used(components: Schema, paths: Schema) -> Schema:
    """The components something refers to: pydantic also describes the domain types behind
    the rules, which clients never see."""
    kept: Schema = {}
    pending = re.findall(r'#/components/schemas/([^"]+)"', json.dumps(paths))
    while pending:
        name = pending.pop()
        if name in kept or name not in components:
            continue
        kept[name] = components[name]
        pending += re.findall(r'#/components/schemas/([^"]+)"', json.dumps(kept[name]))
    return dict(sorted(kept.items()))
