"""WBIZ media checks and the multipart record: pure functions, no sockets."""

from __future__ import annotations

import base64

import pytest

from connector.providers import wbiz_media as wm
from connector.providers.http import Exchange, FilePart

KIB, MIB = 1024, 1024 * 1024
ANIMATED_WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00\x00\x00\x00" + b"\x02" + bytes(10)
STATIC_WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(16)


@pytest.mark.parametrize("text, expected", [
    pytest.param(base64.b64encode(b"hello!").decode(), b"hello!", id="standard"),
    pytest.param("aGVsbG8", b"hello", id="no-padding"),
    pytest.param("aGVs\nbG8h", b"hello!", id="line-break"),
    pytest.param("data:image/png;base64,aGVsbG8h", b"hello!", id="data-url"),
    pytest.param(base64.urlsafe_b64encode(b"\xfb\xff").decode(), b"\xfb\xff", id="url-safe"),
    pytest.param("not base64!", None, id="not-base64"),
])
def test_decode_base64(text: str, expected: bytes | None) -> None:
    assert wm.decode_base64(text) == expected


@pytest.mark.parametrize("value, expected", [
    ("image/png", "image/png"), ("Image/JPG; charset=binary", "image/jpeg"),
    ("video/3gp", "video/3gpp"), ("audio/mp3", "audio/mpeg"), (None, ""),
])
def test_normalize_type(value: str | None, expected: str) -> None:
    assert wm.normalize_type(value) == expected


def test_a_webp_sticker_is_judged_by_its_animation_flag() -> None:
    assert wm.is_animated_webp(ANIMATED_WEBP) and not wm.is_animated_webp(STATIC_WEBP)
    assert wm.size_limit("image/webp", ANIMATED_WEBP) == 500 * KIB
    assert wm.size_limit("image/webp", STATIC_WEBP) == 100 * KIB
    assert wm.size_limit("image/gif") is None


CHECKS = [
    pytest.param("image/png", b"x" * (5 * MIB), [], id="image-at-limit"),
    pytest.param("image/png", b"x" * (5 * MIB + 1),
                 [("/base64", "a WhatsApp image (image/png) is at most 5 MB")], id="image-over"),
    pytest.param("video/mp4", b"x" * (16 * MIB + 1), [("/base64", "at most 16 MB")],
                 id="video-over"),
    pytest.param("image/webp", STATIC_WEBP + bytes(100 * KIB),
                 [("/base64", "static sticker (image/webp) is at most 100 KB")],
                 id="static-sticker-over"),
    pytest.param("image/gif", b"GIF89a", [("/mime_type", "does not take image/gif")],
                 id="type"),
    pytest.param("application/pdf", b"", [("/base64", "the file is empty")], id="empty"),
]


@pytest.mark.parametrize("mime_type, content, expected", CHECKS)
def test_check_file(mime_type: str, content: bytes, expected: list[tuple[str, str]]) -> None:
    errors = wm.check_file(mime_type, content, pointer="/base64", type_pointer="/mime_type")
    assert [e.pointer for e in errors] == [p for p, _ in expected]
    for error, (_, words) in zip(errors, expected, strict=True):
        assert words in error.message


def test_a_multipart_record_names_the_file_but_keeps_no_bytes() -> None:
    part = FilePart("file", "pic.png", "image/png", b"\x89PNG secret bytes")
    exchange = Exchange(method="POST", url="https://api.wbiz.in/api/v1/media",
                        request_body={"form": {}, "files": [part.describe()]})
    recorded = exchange.record(secrets=("tok",))
    assert recorded["request_body"]["files"] == [
        {"field": "file", "filename": "pic.png", "content_type": "image/png", "size_bytes": 17}]
    assert "secret bytes" not in repr(part) and "secret bytes" not in str(recorded)
