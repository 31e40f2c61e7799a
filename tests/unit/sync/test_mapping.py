"""The sync mapping table: paths with list selectors, transforms, defaults, filters."""

import pytest

from connector.sync.mapping import PRESETS, get_path, map_record, matches, raw_value

PERSON = {
    "id": 7, "name": " Ana  Souza ", "first_name": "Ana",
    "phones": [{"value": "", "primary": False, "label": "work"},
               {"value": "+55 11 98765-4321", "primary": True, "label": "mobile"}],
    "emails": [{"value": "ANA@Example.com ", "primary": True}],
    "score": 4915123456789.0,
}

PATHS = [
    pytest.param("first_name", "Ana", id="key"),
    pytest.param("phones.1.value", "+55 11 98765-4321", id="index"),
    pytest.param("phones[primary=true].value", "+55 11 98765-4321", id="selector-bool"),
    pytest.param("phones[label=work].value", "", id="selector-string"),
    pytest.param("phones.5.value", None, id="index-out-of-range"),
    pytest.param("missing.deeper", None, id="missing"),
    pytest.param("name.first", None, id="through-a-string"),
]


@pytest.mark.parametrize("path, expected", PATHS)
def test_get_path(path, expected):
    assert get_path(PERSON, path) == expected


def test_first_non_empty_path_transforms_and_default():
    mapping = [
        {"to": "phone", "from": ["phones.0.value", "phones[primary=true].value"]},
        {"to": "first_name", "from": "name", "transform": ["trim", "first_word"]},
        {"to": "last_name", "from": "name", "transform": ["trim", "rest_words"]},
        {"to": "email", "from": "emails.0.value", "transform": ["trim", "lower"]},
        {"to": "company", "from": "org.name", "default": "-"},
        {"to": "description", "from": "score"},
        {"to": "type", "value": "contact"},
    ]
    assert map_record(PERSON, mapping) == {
        "phone": "+55 11 98765-4321", "first_name": "Ana", "last_name": "Souza",
        "email": "ana@example.com", "company": "-", "description": "4915123456789",
        "type": "contact"}


def test_raw_value_is_the_untransformed_source_value():
    mapping = [{"to": "phone", "from": ["phones.0.value", "phones.1.value"],
                "transform": ["digits"]}]
    assert raw_value(PERSON, mapping, "phone") == "+55 11 98765-4321"


FILTERS = [
    pytest.param({"path": "first_name", "op": "eq", "value": "Ana"}, True, id="eq"),
    pytest.param({"path": "first_name", "op": "ne", "value": "Ana"}, False, id="ne"),
    pytest.param({"path": "id", "op": "in", "value": ["7", "8"]}, True, id="in-number-as-text"),
    pytest.param({"path": "org", "op": "missing"}, True, id="missing"),
    pytest.param({"path": "org", "op": "exists"}, False, id="exists"),
]


@pytest.mark.parametrize("rule, expected", FILTERS)
def test_filters(rule, expected):
    assert matches(PERSON, [rule]) is expected


def test_pipedrive_preset_prefers_the_mobile_phone_over_an_empty_placeholder():
    assert map_record(PERSON, PRESETS["pipedrive"])["phone"] == "+55 11 98765-4321"
