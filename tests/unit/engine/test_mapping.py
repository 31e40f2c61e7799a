"""Mapping expressions: JSON types kept, helpers, sandboxing, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.mapping import Mapper, MappingError, check_expression, split_name

CONTEXT = {
    "trigger": {"fields": {"phone": "(11) 98765-4321", "name": "Ana Maria Souza",
                           "count": 5, "tags": ["a", "b"], "webflow_phone": 5511987654321.0,
                           "email": "Ana@Example.com", "blank": ""}},
    "steps": {"contact": {"contact": {"id": "12", "group_ids": ["3"]}}},
}

CASES = [
    pytest.param("{{ trigger.fields.count }}", 5, id="int-kept"),
    pytest.param("{{ trigger.fields.tags }}", ["a", "b"], id="list-kept"),
    pytest.param(" {{ steps.contact.contact }} ", {"id": "12", "group_ids": ["3"]},
                 id="object-kept"),
    pytest.param("n={{ trigger.fields.count }}", "n=5", id="text-renders"),
    pytest.param("{{ phone(trigger.fields.phone) }}", "+5511987654321", id="phone-region"),
    pytest.param("{{ trigger.fields.phone | phone }}", "+5511987654321", id="phone-filter"),
    pytest.param("{{ phone(trigger.fields.webflow_phone) }}", "+5511987654321",
                 id="phone-from-float"),
    pytest.param("{{ split_name(trigger.fields.name).last }}", "Maria Souza", id="split"),
    pytest.param("{{ first_name(trigger.fields.name) }}", "Ana", id="first-name"),
    pytest.param("{{ lower(trigger.fields.email) }}", "ana@example.com", id="lower"),
    pytest.param("{{ default(trigger.fields.missing, 'x') }}", "x", id="default-missing"),
    pytest.param("{{ default(trigger.fields.blank, 'x') }}", "x", id="default-blank"),
    pytest.param("{{ trigger.fields.missing.deeper | default('y') }}", "y",
                 id="default-filter-chained"),
    pytest.param("{{ trigger.fields.count > 3 }}", True, id="comparison"),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_evaluate(text: str, expected: Any) -> None:
    assert Mapper(CONTEXT, "BR").evaluate(text, "/x") == expected


ERRORS = [
    pytest.param("{{ trigger.fields.missing }}", "has no attribute 'missing'", id="undefined"),
    pytest.param("{{ phone('12ab') }}", "phone '12ab' is not usable", id="bad-phone"),
    pytest.param("{{ trigger.__class__ }}", "unsafe", id="sandboxed"),
    pytest.param("{{ 1 / 0 }}", "ZeroDivisionError", id="arith"),
    pytest.param("{{ range(10) }}", "undefined", id="no-range"),
]


@pytest.mark.parametrize("text, words", ERRORS)
def test_errors_name_the_field_and_reason(text: str, words: str) -> None:
    with pytest.raises(MappingError) as caught:
        Mapper(CONTEXT, "BR").evaluate(text, "/steps/0/input/phone")
    assert caught.value.pointer == "/steps/0/input/phone"
    assert words in caught.value.reason


def test_resolve_drops_empty_values_and_walks_lists() -> None:
    resolved = Mapper(CONTEXT, "BR").resolve(
        {"a": "{{ trigger.fields.blank }}", "b": ["{{ trigger.fields.count }}", "x"],
         "c": {"d": "{{ trigger.fields.count }}"}, "e": 7})
    assert resolved == {"b": [5, "x"], "c": {"d": 5}, "e": 7}


def test_invalid_phone_error_keeps_the_raw_value() -> None:
    with pytest.raises(MappingError) as caught:
        Mapper({"trigger": {"p": "0800 123"}}, None).evaluate("{{ phone(trigger.p) }}", "/p")
    assert caught.value.raw == "0800 123"


def test_check_expression_reports_unknown_roots_and_later_steps() -> None:
    problems = check_expression("{{ payload.x }} {{ steps.later.id }} {{ phone(trigger.p) }}",
                                ("trigger", "steps"), ["earlier"])
    assert problems == ["unknown name 'payload'; use one of trigger, steps",
                        "steps.later is not an earlier step (earlier: earlier)"]
    assert check_expression("{{ trigger.x ", ("trigger",), [])[0].startswith("not a valid")


def test_split_name() -> None:
    assert split_name("  Ana  ") == {"first": "Ana", "last": ""}
    assert split_name(None) == {"first": "", "last": ""}
