"""catalog.load(): the real definitions load clean, and each broken definition is reported once."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector.catalog import (
    Catalog,
    CatalogError,
    DefinitionError,
    ProviderEntry,
    load,
    main,
    validate_input,
)
from connector.providers.registry import known_operations

ROOT = Path(__file__).resolve().parents[2]
CORBITAL_OPERATIONS = frozenset({
    "list", "get", "create", "update", "delete", "update_contact", "find_contact_by_phone",
    "upsert_contact", "add_contact_to_group", "remove_contact_from_group", "send_text",
    "send_media", "send_template", "send_message",
})
TRIGGER_EXAMPLES = json.loads((ROOT / "schemas" / "trigger.schema.json").read_text())["examples"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load(ROOT, known_operations=known_operations())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the definitions and schemas, with one valid poll trigger, to break in tests."""
    for folder in ("actions", "schemas"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "triggers").mkdir()
    write(tmp_path, "triggers/new_contact.json", TRIGGER_EXAMPLES[0])
    return tmp_path


def write(root: Path, file: str, data: object) -> None:
    (root / file).write_text(json.dumps(data, indent=2))


def edit(root: Path, file: str, change) -> None:
    data = json.loads((root / file).read_text())
    change(data)
    write(root, file, data)


def errors_of(root: Path, **kwargs) -> list[DefinitionError]:
    with pytest.raises(CatalogError) as caught:
        load(root, **kwargs)
    return list(caught.value.errors)


# -- the real catalog ---------------------------------------------------------------------------


def test_real_catalog_loads_clean(catalog):
    assert len(catalog.actions) >= 33 and len(catalog.triggers) >= 13
    assert all(key == Path(defn.file).stem for key, defn in catalog.actions.items())


def test_action_definition_exposes_its_provider_entry(catalog):
    send = catalog.actions["send_template"]
    assert send.provider("corbital") == ProviderEntry(
        "corbital", "send_template", None, ("messages.send", "templates.read")
    )
    assert send.abilities_for("corbital") == {"messages.send", "templates.read"}
    assert send.provider("waapi") is None and send.abilities_for("waapi") == frozenset()
    assert catalog.actions["list_contacts"].provider("corbital").resource == "contacts"


def test_reads_are_safe_and_sends_at_most_once(catalog):
    for defn in catalog.actions.values():
        assert (defn.idempotency == "safe") is (not defn.side_effect), defn.key
        if defn.group == "messages":
            assert defn.idempotency == "at_most_once", defn.key


def test_catalog_is_read_only(catalog):
    with pytest.raises(TypeError):
        catalog.actions["x"] = catalog.actions["send_text"]
    with pytest.raises(AttributeError):
        catalog.actions["send_text"].key = "x"


def test_every_sample_fits_its_output_validator(catalog):
    for defn in catalog.actions.values():
        assert defn.output_validator.is_valid(defn.sample), defn.key


# -- one error per problem ------------------------------------------------------------------------


def _trigger(data: dict, **changes) -> dict:
    return {**data, **changes}


RULE_CASES = [
    pytest.param(
        "actions/send_text.json", lambda d: d.update(key="send_txt"),
        "/key", "key 'send_txt' must equal the file name 'send_text'",
        id="key-matches-file",
    ),
    pytest.param(
        "triggers/send_text.json", None,
        "/key", "key 'send_text' is already used by actions/send_text.json; keys must be unique"
        " across actions and triggers",
        id="key-unique-across-kinds",
    ),
    pytest.param(
        "actions/get_contact.json",
        lambda d: d["providers"]["corbital"].update(abilities=["contacts.raed"]),
        "/providers/corbital/abilities/0",
        "ability 'contacts.raed' is not a known 'corbital' ability (did you mean 'contacts.read'?);"
        " known abilities are in schemas/abilities.json",
        id="ability-unknown",
    ),
    pytest.param(
        "actions/get_contact.json",
        lambda d: d["providers"].update(zenvia={"operation": "get", "resource": "contacts",
                                                "abilities": []}),
        "/providers/zenvia", "provider 'zenvia' is not in schemas/abilities.json; known "
        "providers: 'corbital', 'corbital_v2', 'waapi', 'wbiz'",
        id="provider-unknown",
    ),
    pytest.param(
        "actions/send_media.json", lambda d: d["sample"].update(phone="491701234567"),
        "/sample/phone", "does not fit output_schema: must be an E.164 phone number: '+' then 7-15"
        " digits without spaces (for example \"+491701234567\")",
        id="sample-fits-output",
    ),
    pytest.param(
        "triggers/new_contact.json", lambda d: d["sample"].pop("phone"),
        "/sample/phone", "does not fit item_schema: 'phone' is required",
        id="sample-fits-item",
    ),
    pytest.param(
        "actions/create_group.json", lambda d: d.pop("idempotency"),
        "/idempotency", "a side-effect action must declare 'idempotency': one of 'at_most_once',"
        " 'natural_key', 'read_before_write'",
        id="side-effect-without-idempotency",
    ),
    pytest.param(
        "actions/send_text.json", lambda d: d.update(idempotency="safe"),
        "/idempotency", "'safe' is only for reads; a side-effect action must declare one of"
        " 'at_most_once', 'natural_key', 'read_before_write'",
        id="side-effect-declared-safe",
    ),
    pytest.param(
        "actions/list_groups.json", lambda d: d.update(idempotency="read_before_write"),
        "/idempotency", "a read must declare 'idempotency' as 'safe' or leave it out, not"
        " 'read_before_write'; if the action changes something, set 'side_effect' to true",
        id="read-not-safe",
    ),
    pytest.param(
        "actions/get_status.json",
        lambda d: d["input_schema"]["properties"]["id"].update(type="strng"),
        "/input_schema/properties/id/type", "not a valid JSON Schema: must be one of 'array',"
        " 'boolean', 'integer', 'null', 'number', 'object', 'string', not 'strng' (did you mean"
        " 'string'?)",
        id="input-schema-valid",
    ),
    pytest.param(
        "actions/list_groups.json",
        lambda d: d["output_schema"]["properties"]["total"].update(minimum="zero"),
        "/output_schema/properties/total/minimum",
        "not a valid JSON Schema: must be a number, not 'zero'",
        id="output-schema-valid",
    ),
    pytest.param(
        "actions/list_groups.json", lambda d: d["output_schema"].update({"$defs": []}),
        "/output_schema/$defs", "not a valid JSON Schema: must be an object, not []",
        id="schema-valid-despite-odd-shape",
    ),
    pytest.param(
        "actions/send_text.json",
        lambda d: d["input_schema"]["properties"]["phone"].update(
            {"$ref": "https://wa-connector.dev/schemas/types/fone.schema.json"}),
        "/input_schema/properties/phone/$ref",
        "$ref 'https://wa-connector.dev/schemas/types/fone.schema.json' does not resolve; refer to"
        " a schema under schemas/ by its full $id, such as"
        " 'https://wa-connector.dev/schemas/types/phone.schema.json'",
        id="ref-resolves",
    ),
    pytest.param(
        "actions/upsert_contact.json",
        lambda d: d["input_schema"]["properties"].update(
            apiKey={"description": "Your key.", "type": "string"}),
        "/input_schema/properties/apiKey", "input property 'apiKey' looks like a credential;"
        " credentials belong to the connection, never to action input",
        id="secret-input",
    ),
    pytest.param(
        "actions/send_text.json",
        lambda d: d["input_schema"]["properties"].update(options={
            "description": "Options.", "type": "object", "additionalProperties": False,
            "properties": {"Auth_Token": {"description": "Token.", "type": "string"}}}),
        "/input_schema/properties/options/properties/Auth_Token",
        "input property 'Auth_Token' looks like a credential; credentials belong to the connection,"
        " never to action input",
        id="secret-input-nested",
    ),
    pytest.param(
        "triggers/new_contact.json", lambda d: d.update(dedupe_key="idd"),
        "/dedupe_key", "dedupe_key 'idd' must name a property of item_schema (did you mean 'id'?);"
        " declared: 'id', 'phone'",
        id="dedupe-key-declared",
    ),
    pytest.param(
        "triggers/new_contact.json", lambda d: d["item_schema"].update(required=["phone"]),
        "/dedupe_key", "dedupe_key 'id' must be listed in item_schema's 'required'",
        id="dedupe-key-required",
    ),
    pytest.param(
        "actions/send_template.json",
        lambda d: d["input_schema"]["properties"]["template_name"].pop("description"),
        "/input_schema/properties/template_name/description",
        "add a 'description': it is the help text users see next to the field",
        id="meta-input-described",
    ),
    pytest.param(
        "actions/send_text.json", lambda d: d.update(sampel={}),
        "/sampel", "unknown property 'sampel' (did you mean 'sample'?)",
        id="meta-unknown-field",
    ),
    pytest.param(
        "actions/list_sources.json", lambda d: d["providers"]["corbital"].pop("resource"),
        "/providers/corbital/resource", "a generic operation needs a 'resource', such as"
        " \"contacts\"",
        id="meta-generic-operation-resource",
    ),
    pytest.param(
        "triggers/new_contact.json", lambda d: d.pop("ordering"),
        "/ordering", "poll triggers need 'ordering': \"newest_first\" or \"oldest_first\"",
        id="meta-poll-ordering",
    ),
]


@pytest.mark.parametrize("file, change, pointer, message", RULE_CASES)
def test_rule_reports_problem_once(repo, file, change, pointer, message):
    if change is None:  # a new file: a trigger reusing an action's key
        write(repo, file, _trigger(TRIGGER_EXAMPLES[0], key=Path(file).stem))
    else:
        edit(repo, file, change)
    assert errors_of(repo) == [DefinitionError(file, pointer, message)]


def test_unknown_operation_reported_when_operations_are_known(repo):
    edit(repo, "actions/send_text.json",
         lambda d: d["providers"]["corbital"].update(operation="send_txt"))
    assert load(repo).actions["send_text"]  # without known_operations the name is not checked
    assert errors_of(repo, known_operations=known_operations()) == [
        DefinitionError(
            "actions/send_text.json", "/providers/corbital/operation",
            "operation 'send_txt' is not implemented by the 'corbital' dialect (did you mean"
            " 'send_text'?)",
        )
    ]


def test_provider_without_dialect_reported_when_operations_are_known(repo):
    errors = errors_of(repo, known_operations={"wamatrix": frozenset({"send_text"})})
    files = [*(repo / "actions").glob("*.json"), *(repo / "triggers").glob("*.json")]
    entries = sum(len(json.loads(f.read_text())["providers"]) for f in files)
    assert len(errors) == entries  # one per provider entry
    assert errors[0].pointer == "/providers/corbital"
    assert errors[0].message == "provider 'corbital' has no dialect; known: 'wamatrix'"


def test_several_errors_are_reported_at_once(repo):
    edit(repo, "actions/send_text.json", lambda d: d.update(key="send_txt"))
    edit(repo, "actions/send_media.json", lambda d: (d.pop("title"), d.update(group="chat")))
    edit(repo, "actions/get_contact.json",
         lambda d: d["providers"]["corbital"].update(abilities=["contacts.raed", "x.y"]))
    with pytest.raises(CatalogError) as caught:
        load(repo)
    lines = str(caught.value).splitlines()
    assert lines == [
        "actions/get_contact.json#/providers/corbital/abilities/0: ability 'contacts.raed' is not a"
        " known 'corbital' ability (did you mean 'contacts.read'?); known abilities are in"
        " schemas/abilities.json",
        "actions/get_contact.json#/providers/corbital/abilities/1: ability 'x.y' is not a known"
        " 'corbital' ability; known abilities are in schemas/abilities.json",
        "actions/send_media.json#/title: 'title' is required",
        "actions/send_media.json#/group: must be one of 'contacts', 'statuses', 'sources',"
        " 'groups', 'templates', 'bots', 'messages', 'campaigns', 'instances', 'account', 'inbox',"
        " 'custom_fields', 'quick_replies', 'presets', 'flows', 'media', 'whatsapp_groups',"
        " 'webhooks', not 'chat'",
        "actions/send_text.json#/key: key 'send_txt' must equal the file name 'send_text'",
    ]


def test_bad_json_is_reported_with_its_position(repo):
    (repo / "actions" / "send_text.json").write_text('{\n  "key": "send_text",\n}\n')
    assert errors_of(repo) == [
        DefinitionError(
            "actions/send_text.json", "",
            "invalid JSON at line 3, column 1: Expecting property name enclosed in double quotes",
        )
    ]


def test_broken_shared_schema_is_reported(repo):
    edit(repo, "schemas/types/contact.schema.json",
         lambda d: d["properties"]["phone"].update({"$ref": "e165.schema.json"}))
    assert errors_of(repo) == [
        DefinitionError(
            "schemas/types/contact.schema.json", "/properties/phone/$ref",
            "$ref 'e165.schema.json' does not resolve to a schema under schemas/",
        )
    ]


def test_missing_meta_schema_is_reported(repo):
    (repo / "schemas" / "action.schema.json").unlink()
    assert errors_of(repo) == [
        DefinitionError("schemas/action.schema.json", "", "file is missing")
    ]


def test_broken_ref_in_meta_schema_is_reported_once(repo):
    edit(repo, "schemas/action.schema.json",
         lambda d: d["properties"]["output_schema"].update({"$ref": "described.schema.json"}))
    assert errors_of(repo) == [
        DefinitionError(
            "schemas/action.schema.json", "/properties/output_schema/$ref",
            "$ref 'described.schema.json' does not resolve to a schema under schemas/",
        )
    ]


def test_broken_abilities_file_is_reported_once(repo):
    write(repo, "schemas/abilities.json", {"corbital": {"Contacts Read": "Read contacts."}})
    assert errors_of(repo) == [
        DefinitionError(
            "schemas/abilities.json", "/corbital/Contacts Read",
            "unknown property 'Contacts Read'; names must match"
            " '^[a-z][a-z0-9_]*[.:][a-z][a-z0-9_]*$'",
        )
    ]


# -- input validation -----------------------------------------------------------------------------

PHONE_ERROR = (
    "must be a phone number: 7-15 digits, optionally starting with '+', separated by spaces,"
    " dashes, dots or brackets (for example \"+49 170 1234567\")"
)
INPUT_CASES = [
    pytest.param("send_template", {"phone": "+49 170 1234567", "template_name": "order_shipped",
                                   "body_params": ["Amara", "Friday"]}, [], id="valid"),
    pytest.param("send_template", {"phone": "+49 170 1234567"},
                 [("/template_name", "'template_name' is required")], id="missing-required"),
    pytest.param("send_text", {"phone": "call me", "text": "Hi"}, [("/phone", PHONE_ERROR)],
                 id="bad-phone"),
    pytest.param("send_text", {"phnoe": "+4917012345678", "text": "Hi"},
                 [("/phone", "'phone' is required"),
                  ("/phnoe", "unknown property 'phnoe' (did you mean 'phone'?)")],
                 id="misspelt-field"),
    pytest.param("send_text", {"phone": "+4917012345678", "text": "Hi",
                               "contact": {"email": "amara"}},
                 [("/contact/email", "must be a valid email, not 'amara'")], id="nested-format"),
    pytest.param("send_media", {"phone": "+4917012345678", "media_type": "sticker",
                                "media_url": "not a url"},
                 [("/media_type", "must be one of 'image', 'document', 'video', 'audio', not"
                                  " 'sticker'"),
                  ("/media_url", "must be a valid uri, not 'not a url'"),
                  ("/media_url", "'not a url' does not match the pattern '^https?://'")],
                 id="every-error"),
    pytest.param("list_contacts", {"per_page": 501}, [("/per_page", "must be at most 500")],
                 id="range"),
    pytest.param("get_contact", {"id": "12/../admin"},
                 [("/id", "must be an id: 1-64 letters, digits or '@._:-', starting with a letter"
                          " or digit (for example \"1042\")")], id="id-path"),
    pytest.param("get_contact", [], [("", "must be an object, not []")], id="not-an-object"),
]


@pytest.mark.parametrize("key, data, expected", INPUT_CASES)
def test_validate_input(catalog, key, data, expected):
    assert validate_input(catalog.actions[key], data) == expected


# -- command line ---------------------------------------------------------------------------------


def test_cli_reports_ok(capsys, catalog):
    assert main([str(ROOT)]) == 0
    assert capsys.readouterr().out == (
        f"{len(catalog.actions)} actions, {len(catalog.triggers)} triggers OK\n")


def test_cli_prints_each_error_and_fails(repo, capsys):
    edit(repo, "actions/send_text.json", lambda d: d.update(key="send_txt"))
    edit(repo, "actions/list_groups.json", lambda d: d.update(idempotency="at_most_once"))
    assert main([str(repo)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        "actions/list_groups.json#/idempotency", "actions/send_text.json#/key",
    ]


def test_cli_runs_as_a_module(repo):
    edit(repo, "actions/send_text.json", lambda d: d.update(key="send_txt"))
    result = subprocess.run(
        [sys.executable, "-m", "connector.catalog", str(repo)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert (result.returncode, result.stdout) == (
        1, "actions/send_text.json#/key: key 'send_txt' must equal the file name 'send_text'\n"
    )
