"""Body decoders: bracket keys, multipart JSON parts, and refusals with reasons."""

from __future__ import annotations

import pytest

from connector.forms.decode import BodyError, decode, decode_multipart_fields, nest_brackets


def test_php_bracket_keys_nest() -> None:
    body = nest_brackets([("form[id]", "a1"), ("fields[phone][value]", "+55 11"),
                          ("tags[]", "x"), ("tags[]", "y"), ("plain", "1"), ("odd[key", "2")])
    assert body == {"form": {"id": "a1"}, "fields": {"phone": {"value": "+55 11"}},
                    "tags": ["x", "y"], "plain": "1", "odd[key": "2"}


def test_multipart_raw_request_is_decoded() -> None:
    body = decode_multipart_fields([("submissionID", "59"),
                                    ("rawRequest", '{"q5_phone": {"full": "1"}}')])
    assert body == {"submissionID": "59", "rawRequest": {"q5_phone": {"full": "1"}}}


REFUSALS = [
    pytest.param("application/json", b"{", 400, id="truncated"),
    pytest.param("application/json", b"[" * 40 + b"]" * 40, 422, id="deep"),
    pytest.param("text/html", b"<p>", 415, id="content-type"),
    pytest.param(None, b"{}", 415, id="no-content-type"),
    pytest.param("application/x-www-form-urlencoded", b"a" + b"[b]" * 40 + b"=1", 422,
                 id="deep-brackets"),
]


@pytest.mark.parametrize("content_type, raw, status", REFUSALS)
def test_refusals_carry_a_status_and_reason(content_type: str | None, raw: bytes,
                                            status: int) -> None:
    with pytest.raises(BodyError) as caught:
        decode(content_type, raw)
    assert caught.value.status == status and caught.value.reason


def test_apps_script_text_plain_json_is_accepted() -> None:
    assert decode("text/plain; charset=utf-8", b'{"a": 1}') == {"a": 1}
