"""The API's document and its validation come from one set of models: what the document shows
is what the server enforces, and a refusal names its field the way clients rely on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel

from dispatcher.config import Settings
from dispatcher.domain.errors import ValidationFailed
from dispatcher.domain.numbers import NumberPolicy
from dispatcher.domain.trunks import load_trunks
from web.models.calls import CallBatch, CallBody, CallQuery
from web.models.campaigns import CampaignBody, CampaignPatch, ContactQuery
from web.models.dnc import DncListBody, DncNumbersBody
from web.models.refusals import validated
from web.models.rules import ApiContext
from web.openapi import document

WEB = Path(__file__).parents[2] / "web"
API = ApiContext(NumberPolicy(), load_trunks(Settings(trunk_name="carrier", trunk_lines=30)))
REQUEST_MODELS: list[type[BaseModel]] = [CallBody, CampaignBody, CampaignPatch, DncListBody,
                                         DncNumbersBody]


def _with_examples(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list):
            yield where, node
        for key, child in node.items():
            yield from _with_examples(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _with_examples(child, f"{where}/{index}")


class TestTheDocument:
    def test_every_documented_example_is_valid_by_the_schema_beside_it(self) -> None:
        spec = document()
        found = list(_with_examples(spec))
        assert len(found) >= 8
        for where, node in found:
            schema = {k: v for k, v in node.items() if k != "examples"}
            validator = jsonschema_rs.validator_for(
                {"allOf": [schema], "components": spec["components"]})
            for example in node["examples"]:
                errors = [e.message for e in validator.iter_errors(example)]
                assert errors == [], f"{where}: {example!r}"

    @pytest.mark.parametrize("model", REQUEST_MODELS, ids=lambda m: m.__name__)
    def test_every_request_example_passes_the_servers_rules(
            self, model: type[BaseModel]) -> None:
        examples = (model.model_config.get("json_schema_extra") or {}).get("examples")
        assert examples, f"{model.__name__} shows no example"
        for example in examples:
            validated(model, example, API)

    def test_no_schema_is_written_by_hand(self) -> None:
        """The operation tables name models; every JSON Schema keyword comes from pydantic."""
        for path in sorted(WEB.glob("openapi*.py")):
            source = path.read_text()
            written = re.findall(r'"(?:properties|items|pattern|enum|minimum|maxLength|format)"'
                                 r'\s*:|"type":\s*"(?:string|object|integer|array)"', source)
            assert written == [], f"{path.name} writes a schema by hand"

    def test_null_is_documented_exactly_where_the_rules_take_it(self) -> None:
        body = document()["components"]["schemas"]["CallBody"]["properties"]
        assert {"type": "null"} in body["timeout"]["anyOf"]
        assert "anyOf" not in body["to"]  # a call always names its number
        assert validated(CallBody, {"to": "09121234567", "timeout": None}, API).timeout == 30

    def test_the_error_body_is_documented_once_and_used_everywhere(self) -> None:
        spec = document()
        refs = re.findall(r'"#/components/schemas/(\w+)"', str(spec).replace("'", '"'))
        assert "Error" in refs
        for path, item in spec["paths"].items():
            for operation in item.values():
                for status, answer in operation["responses"].items():
                    if status.startswith(("4", "5")) and (path, status) != ("/readyz", "503"):
                        schema = answer["content"]["application/json"]["schema"]
                        assert schema == {"$ref": "#/components/schemas/Error"}


def refused(model: type[BaseModel], data: object, **kwargs: str) -> tuple[str | None, str]:
    with pytest.raises(ValidationFailed) as info:
        validated(model, data, API, **kwargs)
    return info.value.field, info.value.message


GOOD = {"to": "09121234567"}


class TestRefusalsNameTheField:
    def test_a_misspelt_field_is_named_before_anything_it_explains(self) -> None:
        assert refused(CallBody, {"to": "x", "tmeout": 30}) == (
            "tmeout", "unknown field 'tmeout'")

    def test_a_missing_number_is_required(self) -> None:
        assert refused(CallBody, {}) == ("to", "to is required")

    def test_a_rules_message_reaches_the_client_unchanged(self) -> None:
        assert refused(CallBody, {**GOOD, "timeout": 4}) == (
            "timeout", "timeout must be between 5 and 120")
        assert refused(CallBody, {**GOOD, "timeout": "30"})[0] == "timeout"

    def test_a_variable_is_named_by_its_own_path(self) -> None:
        field, message = refused(CallBody, {**GOOD, "variables": {"__TRUNK_LINES": "99"}})
        assert field == "variables.__TRUNK_LINES" and "reserved" in message

    def test_a_batch_names_the_first_bad_call_by_index(self) -> None:
        field, message = refused(CallBatch, [GOOD, GOOD, GOOD, {"to": "123"}])
        assert field == "[3].to" and message.startswith("call 3: to ")
        assert refused(CallBatch, [GOOD, "x"]) == (
            "[1]", "call 1: the request body must be a JSON object")
        assert refused(CallBatch, [GOOD, {**GOOD, "x": 1}]) == (
            "[1].x", "call 1: unknown field 'x'")
        assert refused(CallBatch, [])[1] == "a batch holds 1 to 500 calls"

    def test_the_body_must_be_an_object(self) -> None:
        assert refused(CallBody, ["to"]) == (None, "the request body must be a JSON object")

    @pytest.mark.parametrize(("body", "field"), [
        ({"name": "x", "windows": [{"days": ["sat"], "start": "9", "end": "18:00"}]},
         "windows[0].start"),
        ({"name": "x", "retry": {"busy": {"max_attempts": 99}}}, "retry.busy.max_attempts"),
        ({"name": "x", "target": {"context": "a b"}}, "target.context"),
        ({"name": "x", "max_lines": 31}, "max_lines"),
        ({"name": "x", "trunk": "elsewhere"}, "trunk"),
        ({"name": "x", "dnc_lists": ["no spaces"]}, "dnc_lists"),
        ({"name": " "}, "name"),
    ])
    def test_campaign_fields_are_named_to_the_nested_field(
            self, body: dict[str, Any], field: str) -> None:
        assert refused(CampaignBody, body)[0] == field

    def test_a_campaign_is_bounded_by_its_own_trunks_lines(self) -> None:
        assert refused(CampaignBody, {"name": "x", "max_lines": 31})[1] == (
            "max_lines must be an integer from 1 to the trunk's 30 lines")
        assert validated(CampaignBody, {"name": "x"}, API).spec(API).max_lines == 30

    def test_a_change_names_something_and_never_the_trunk(self) -> None:
        assert refused(CampaignPatch, {})[1] == (
            "the body must be a JSON object with the fields to change")
        assert refused(CampaignPatch, {"trunk": "carrier"}) == (
            "trunk", "the trunk of a campaign cannot change")
        assert validated(CampaignPatch, {"cps": None, "name": "y"}, API).changes() == {
            "cps": None, "name": "y"}

    def test_query_arguments_are_named_as_such(self) -> None:
        assert refused(CallQuery, {"stauts": "queued"}, unknown="query parameter") == (
            "stauts", "unknown query parameter 'stauts'")
        assert refused(CallQuery, {"limit": "0"}) == (
            "limit", "limit must be an integer from 1 to 500")
        assert refused(CallQuery, {"created_after": "2026-12-06T10:00"}) == (
            "created_after", "created_after needs a time zone offset")
        assert refused(ContactQuery, {"state": "gone"}) == ("state", "unknown state 'gone'")

    def test_text_no_json_encoder_could_carry_is_still_named(self) -> None:
        field, message = refused(CallBody, {**GOOD, "variables": {"\ud800": "v"}})
        assert field == "variables.\ud800" and "'\\ud800'" in message
        assert refused(CallBody, {**GOOD, "\ud800": 1}) == (
            None, "the body holds a name that is not valid Unicode text")
