"""schemas/: examples pass, counter-examples fail, and every schema documents itself."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from connector.catalog import FORMAT_CHECKER, schema_registry
from connector.catalog_rules import describe_all, walk_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
COUNTER_EXAMPLES = ROOT / "tests" / "schemas"
SCHEMA_FILES = sorted(SCHEMAS.rglob("*.schema.json"))
REGISTRY = schema_registry(ROOT)


def _name(path: Path) -> str:
    return path.relative_to(SCHEMAS).as_posix()


def _schema(name: str) -> dict:
    """The schema a counter-example names: `phone` -> schemas/types/phone.schema.json."""
    found = [p for p in SCHEMA_FILES if p.name == f"{name}.schema.json"]
    assert len(found) == 1, f"no single schema named {name!r}: {found}"
    return json.loads(found[0].read_text())


def _errors(schema: dict, instance: object) -> list[tuple[str, str]]:
    validator = Draft202012Validator(schema, registry=REGISTRY, format_checker=FORMAT_CHECKER)
    return describe_all(validator.iter_errors(instance))


def _examples():
    for path in SCHEMA_FILES:
        for index, example in enumerate(json.loads(path.read_text()).get("examples", [])):
            yield pytest.param(path, example, id=f"{_name(path)}[{index}]")


def _counter_examples():
    for path in sorted(COUNTER_EXAMPLES.glob("*.invalid.json")):
        yield pytest.param(path, id=path.name.removesuffix(".invalid.json"))


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=_name)
def test_schema_has_id_title_description_and_examples(path):
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://wa-connector.dev/schemas/{_name(path)}"
    assert schema["title"] and schema["description"]
    assert schema["examples"], "add at least one example"


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=_name)
def test_every_property_is_described_and_objects_are_closed(path):
    schema = json.loads(path.read_text())
    problems = []
    # if/then/else/not only constrain what other keywords declare, so only declarations are checked.
    declarations = [
        (where, sub)
        for where, sub in walk_schema(schema)
        if not {"if", "then", "else", "not"} & {str(part) for part in where}
    ]
    for where, sub in declarations:
        for name, prop in (sub.get("properties") or {}).items():
            if not (isinstance(prop, dict) and prop.get("description")):
                problems.append(f"{'/'.join(map(str, where))}/properties/{name}: no description")
        # A node extending a $ref cannot close itself (additionalProperties does not see the
        # referenced properties); an open node says why in a $comment.
        open_ok = "$ref" in sub or "$comment" in sub
        if "properties" in sub and "additionalProperties" not in sub and not open_ok:
            problems.append(f"{'/'.join(map(str, where))}: additionalProperties not stated")
    assert not problems


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=_name)
def test_object_schema_root_is_closed(path):
    schema = json.loads(path.read_text())
    if schema.get("type") == "object" and "$comment" not in schema:
        assert schema["additionalProperties"] is False


@pytest.mark.parametrize("path, example", list(_examples()))
def test_schema_example_is_valid(path, example):
    assert _errors(json.loads(path.read_text()), example) == []


@pytest.mark.parametrize("path", list(_counter_examples()))
def test_counter_example_fails_for_exactly_one_reason(path):
    case = json.loads(path.read_text())
    assert set(case) == {"reason", "definition"} and case["reason"]
    schema = _schema(path.name.split(".")[0])
    assert len(_errors(schema, case["definition"])) == 1


PINNED = [
    pytest.param(
        "phone.letters", "",
        "must be a phone number: 7-15 digits, optionally starting with '+', separated by spaces,"
        " dashes, dots or brackets (for example \"+49 170 1234567\")",
        id="phone-x-error",
    ),
    pytest.param(
        "action.unknown-field", "/sampel", "unknown property 'sampel' (did you mean 'sample'?)",
        id="unknown-property-suggests",
    ),
    pytest.param(
        "action.input-property-undescribed", "/input_schema/properties/text/description",
        "add a 'description': it is the help text users see next to the field",
        id="undescribed-input",
    ),
    pytest.param(
        "action.generic-operation-without-resource", "/providers/corbital/resource",
        "a generic operation needs a 'resource', such as \"contacts\"",
        id="generic-operation",
    ),
    pytest.param(
        "trigger.push-with-ordering", "/ordering",
        "remove 'ordering': push triggers emit items as they arrive",
        id="push-ordering",
    ),
    pytest.param(
        "contact.type-customer", "/type", "must be one of 'lead', 'contact', not 'customer'",
        id="enum",
    ),
    pytest.param(
        "contact.missing-updated-at", "/updated_at", "'updated_at' is required", id="required",
    ),
    pytest.param(
        "contact.created-at-not-iso", "/created_at", "must be a valid date-time, not '12/07/2025'",
        id="format",
    ),
    pytest.param(
        "abilities.ability-bad-name", "/corbital/Messages Send",
        "unknown property 'Messages Send'; names must match '^[a-z][a-z0-9_]*[.:][a-z][a-z0-9_]*$'",
        id="pattern-properties",
    ),
    pytest.param(
        "send_result.status-sent", "/status", "must be 'accepted'", id="const",
    ),
]


@pytest.mark.parametrize("case, pointer, message", PINNED)
def test_counter_example_message(case, pointer, message):
    definition = json.loads((COUNTER_EXAMPLES / f"{case}.invalid.json").read_text())["definition"]
    assert _errors(_schema(case.split(".")[0]), definition) == [(pointer, message)]


def test_corbital_abilities_are_exactly_the_v1_list():
    """upstream-apis.md §1.3: CRUD on four resources, three reads and one send ability."""
    abilities = json.loads((SCHEMAS / "abilities.json").read_text())
    crud = {f"{r}.{v}" for r in ("contacts", "statuses", "sources", "groups")
            for v in ("create", "read", "update", "delete")}
    reads = {"templates.read", "templatebots.read", "messagebots.read", "messages.send"}
    assert set(abilities) == {"corbital", "corbital_v2", "wbiz", "waapi"}
    assert set(abilities["corbital"]) == crud | reads
