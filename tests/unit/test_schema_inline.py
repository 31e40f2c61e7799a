"""Published action schemas have no `$ref` left and still validate the same inputs."""

import json

import pytest
from jsonschema import Draft202012Validator

from connector.catalog import load, schema_registry
from connector.config import ROOT
from connector.schema_inline import inline_refs

CATALOG = load(ROOT)
REGISTRY = schema_registry(ROOT)


@pytest.mark.parametrize("key", sorted(CATALOG.actions))
def test_inlined_schemas_have_no_refs_and_keep_meaning(key: str) -> None:
    definition = CATALOG.actions[key]
    for schema in (definition.input_schema, definition.output_schema):
        inlined = inline_refs(schema, REGISTRY)
        assert "$ref" not in json.dumps(inlined)
        Draft202012Validator.check_schema(inlined)
    assert Draft202012Validator(inline_refs(definition.output_schema, REGISTRY)).is_valid(
        definition.sample)


def test_field_description_wins_over_the_shared_type() -> None:
    phone = inline_refs(CATALOG.actions["send_text"].input_schema, REGISTRY)["properties"]["phone"]
    assert phone["type"] == "string"
    assert phone["description"] == \
        CATALOG.actions["send_text"].input_schema["properties"]["phone"]["description"]
