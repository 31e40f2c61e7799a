"""Phone numbers: user input -> E.164 (`+4915123456789`), and E.164 -> what a provider wants.

DESIGN.md: numbers are normalised with `phonenumbers` before they reach a provider.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import geocoder

_ALLOWED = re.compile(r"^\+?[\d\s().\-/]+$")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")

_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
_LENGTH_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong length for its country",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without area code",
}


class InvalidPhone(ValueError):
    """`raw` can't be read as a phone number; `reason` says why, in words for the user."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"{raw!r} is not a usable phone number: {reason}")
        self.raw = raw
        self.reason = reason


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """Return `raw` as E.164, or raise `InvalidPhone`.

    Accepted: a leading `+`; the `00` international prefix; national formats when
    `default_region` (ISO 3166 alpha-2, e.g. "DE") is given; digits with a country code but no
    `+`. The last form is ambiguous when a region is given: it is read as international when it
    starts with that region's own country code and is valid so (a CRM storing `4915...` for
    Germany), else as national, and as international only when it is not valid as national.
    Separators `space ( ) . - /` are ignored.
    """
    if not isinstance(raw, str):
        raise InvalidPhone(str(raw), "empty")
    return _normalize(raw, default_region)


@functools.lru_cache(maxsize=8192)  # pure, and parsing costs ~0.2 ms: the same phones recur
def _normalize(raw: str, default_region: str | None) -> str:
    text = raw.strip()
    if not text:
        raise InvalidPhone(str(raw), "empty")
    if not _ALLOWED.match(text):
        raise InvalidPhone(raw, "only digits, a leading +, spaces and ( ) . - / are allowed")
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return _parse(raw, "+" + digits, None)
    if digits.startswith("00"):
        return _parse(raw, "+" + digits[2:], None)
    if default_region is None:
        if digits.startswith("0"):
            raise InvalidPhone(
                raw, "a national number needs a country code (+<code>...) or a default region"
            )
        return _parse(raw, "+" + digits, None)
    region = default_region.upper()
    own_code = str(phonenumbers.country_code_for_region(region))
    if own_code != "0" and digits.startswith(own_code):
        try:
            return _parse(raw, "+" + digits, None)
        except InvalidPhone:
            pass  # not valid as international: read it as a national number below
    try:
        return _parse(raw, digits, region)
    except InvalidPhone as national_error:
        if digits.startswith("0"):  # a trunk prefix: national for sure
            raise
        try:
            return _parse(raw, "+" + digits, None)
        except InvalidPhone:
            raise national_error from None


def format_digits(e164: str) -> str:
    """`+4915123456789` -> `4915123456789` (Corbital's template endpoint wants digits only)."""
    if not _E164.match(e164):
        raise InvalidPhone(e164, "not in E.164 form (+ and up to 15 digits)")
    return e164[1:]


def region_of(e164: str) -> str | None:
    """ISO 3166 alpha-2 region of an E.164 number (`+49...` -> `DE`), None when unknown."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    # "ZZ" = unknown, "001" = non-geographic (+800, +882...)
    return region if region and region not in ("ZZ", "001") else None


@functools.lru_cache(maxsize=8192)
def country_name_of(e164: str) -> str | None:
    """English country name of an E.164 number (`+49...` -> `Germany`), None when unknown."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return geocoder.country_name_for_number(number, "en") or None


def _parse(raw: str, candidate: str, region: str | None) -> str:
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(raw, _PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    length = phonenumbers.is_possible_number_with_reason(number)
    if length != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise InvalidPhone(raw, _LENGTH_REASONS.get(length, "wrong length"))
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_country_code(number.country_code or 0)
        raise InvalidPhone(raw, f"not a valid number for {where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
