"""Phone input -> E.164, and E.164 -> the forms providers want."""

from __future__ import annotations

import pytest

from connector.providers.phones import (
    InvalidPhone,
    country_name_of,
    format_digits,
    normalize_phone,
    region_of,
)

VALID = [
    pytest.param("+4915123456789", None, "+4915123456789", id="e164"),
    pytest.param("+49 151 2345-6789", None, "+4915123456789", id="plus-with-separators"),
    pytest.param("+49 (0)151 23456789", None, "+4915123456789", id="plus-with-trunk-zero"),
    pytest.param("004915123456789", None, "+4915123456789", id="00-prefix"),
    pytest.param("0049 151 23456789", "US", "+4915123456789", id="00-prefix-ignores-region"),
    pytest.param("0151 23456789", "DE", "+4915123456789", id="national-with-region"),
    pytest.param("0151 23456789", "de", "+4915123456789", id="region-any-case"),
    pytest.param("(202) 555-0123", "US", "+12025550123", id="us-national"),
    pytest.param("4915123456789", None, "+4915123456789", id="digits-as-international"),
    pytest.param("4915123456789", "DE", "+4915123456789", id="digits-with-own-country-code"),
    pytest.param("12025550123", "DE", "+12025550123", id="digits-invalid-national-fallback"),
    # Ambiguous: valid as a German national number, so read as one (documented).
    pytest.param("33612345678", "DE", "+4933612345678", id="digits-valid-national-wins"),
    pytest.param("+1 202.555.0123", "DE", "+12025550123", id="dots"),
    pytest.param("  +33 6 12 34 56 78 ", None, "+33612345678", id="surrounding-space"),
]


@pytest.mark.parametrize("raw, region, expected", VALID)
def test_normalize_phone(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


INVALID = [
    pytest.param("", None, "empty", id="empty"),
    pytest.param("   ", None, "empty", id="blank"),
    pytest.param("call me", None, "only digits", id="letters"),
    pytest.param("+49 151 2345 ext 12", None, "only digits", id="extension-words"),
    pytest.param("49+151", None, "only digits", id="plus-in-the-middle"),
    pytest.param("0151 23456789", None, "country code", id="national-without-region"),
    pytest.param("+49 1", None, "too short", id="too-short"),
    pytest.param("+4912", None, "local number", id="local-only"),
    pytest.param("999", "DE", "local number", id="invalid-national-and-international"),
    pytest.param("+4915123456789012345", None, "too long", id="too-long"),
    pytest.param("+999 1234567", None, "country code", id="unknown-country-code"),
    pytest.param("+49 0000 000000", None, "not a valid number", id="invalid-range"),
]


@pytest.mark.parametrize("raw, region, reason", INVALID)
def test_normalize_phone_rejects(raw: str, region: str | None, reason: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(raw, region)
    assert reason in caught.value.reason
    assert caught.value.raw == raw


def test_invalid_phone_message_quotes_raw_value_and_reason() -> None:
    error = InvalidPhone("12", "too short")
    assert str(error) == "'12' is not a usable phone number: too short"


@pytest.mark.parametrize(
    "e164, digits",
    [
        pytest.param("+4915123456789", "4915123456789", id="de"),
        pytest.param("+123456789012345", "123456789012345", id="fifteen-digits"),
    ],
)
def test_format_digits(e164: str, digits: str) -> None:
    assert format_digits(e164) == digits


@pytest.mark.parametrize("value", ["4915123456789", "+49 151", "+0123", "+1234567890123456", ""])
def test_format_digits_needs_e164(value: str) -> None:
    with pytest.raises(InvalidPhone):
        format_digits(value)


@pytest.mark.parametrize(
    "e164, region",
    [
        pytest.param("+4915123456789", "DE", id="de"),
        pytest.param("+12025550123", "US", id="us"),
        pytest.param("+442071234567", "GB", id="gb"),
        pytest.param("+800 1234 5678", None, id="non-geographic"),
        pytest.param("garbage", None, id="garbage"),
    ],
)
def test_region_of(e164: str, region: str | None) -> None:
    assert region_of(e164) == region


@pytest.mark.parametrize(
    "e164, name",
    [
        pytest.param("+4915123456789", "Germany", id="de"),
        pytest.param("+12025550123", "United States", id="us"),
        pytest.param("+800 1234 5678", None, id="non-geographic"),
        pytest.param("garbage", None, id="garbage"),
    ],
)
def test_country_name_of(e164: str, name: str | None) -> None:
    assert country_name_of(e164) == name
