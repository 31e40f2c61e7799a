"""Reading an answer never raises after the request left: odd charsets, absurd nesting."""

from __future__ import annotations

from connector.providers.http import _decode, _parse_json


def test_an_unknown_charset_reads_as_utf8() -> None:
    assert _decode('{"name": "José"}'.encode(), "x-bogus-charset") == '{"name": "José"}'


def test_a_known_charset_is_used() -> None:
    assert _decode("Jos\xe9".encode("latin-1"), "latin-1") == "José"


def test_json_nested_deeper_than_the_parser_goes_is_no_json() -> None:
    assert _parse_json("[" * 100_000 + "]" * 100_000) is None
    assert _parse_json('{"ok": true}') == {"ok": True}
