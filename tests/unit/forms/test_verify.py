"""Signature schemes, on raw bytes, with replay windows for timestamped ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from connector.forms.verify import verify

SECRET = "s3cret-value"
BODY = json.dumps({"a": "é", "b": 1}, ensure_ascii=False).encode()
NOW = 1_750_000_000.0


def _b64(message: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()


def _hex(message: bytes) -> str:
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


CASES = [
    pytest.param({"scheme": "typeform"}, {"Typeform-Signature": "sha256=" + _b64(BODY)}, True,
                 id="typeform"),
    pytest.param({"scheme": "typeform"}, {"Typeform-Signature": _b64(BODY)}, False,
                 id="typeform-no-prefix"),
    pytest.param({"scheme": "tally"}, {"tally-signature": _b64(BODY)}, True, id="tally"),
    pytest.param({"scheme": "tally"}, {"Tally-Signature": _b64(json.dumps(
        json.loads(BODY), separators=(",", ":"), ensure_ascii=False).encode())}, True,
        id="tally-compact-json"),
    pytest.param({"scheme": "webflow"}, {"x-webflow-timestamp": str(int(NOW * 1000)),
                                         "x-webflow-signature": _hex(
                                             str(int(NOW * 1000)).encode() + b":" + BODY)},
                 True, id="webflow"),
    pytest.param({"scheme": "webflow"}, {"x-webflow-timestamp": str(int((NOW - 600) * 1000)),
                                         "x-webflow-signature": _hex(
                                             str(int((NOW - 600) * 1000)).encode() + b":" + BODY)},
                 False, id="webflow-replayed"),
    pytest.param({"scheme": "calendly"},
                 {"Calendly-Webhook-Signature":
                  f"t={int(NOW)},v1={_hex(f'{int(NOW)}.'.encode() + BODY)}"},
                 True, id="calendly"),
    pytest.param({"scheme": "calendly"}, {"Calendly-Webhook-Signature":
                                          f"t={int(NOW) - 900},"
                                          f"v1={_hex(f'{int(NOW) - 900}.'.encode() + BODY)}"},
                 False, id="calendly-replayed"),
    pytest.param({"scheme": "hmac", "header": "X-Sig", "encoding": "base64", "prefix": "v1="},
                 {"X-Sig": "v1=" + _b64(BODY)}, True, id="generic-hmac"),
    pytest.param({"scheme": "shared_secret", "header": "X-Token"}, {"X-Token": SECRET}, True,
                 id="shared-secret"),
    pytest.param({"scheme": "shared_secret", "header": "X-Token"}, {"X-Token": "nope"}, False,
                 id="shared-secret-wrong"),
]


@pytest.mark.parametrize("config, headers, ok", CASES)
def test_verify(config: dict[str, str], headers: dict[str, str], ok: bool) -> None:
    verdict = verify(config, SECRET, headers, BODY, now=NOW)
    assert verdict.ok is ok
    assert ok or verdict.reason


def test_no_verify_block_accepts() -> None:
    assert verify(None, None, {}, BODY, now=NOW).ok
