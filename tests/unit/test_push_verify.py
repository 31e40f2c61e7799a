"""Push signature schemes over raw bodies: what passes and what is refused, with the reason."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from connector.push_verify import verify_push
from connector.webhook_signing import generate_webhook_secret, sign_headers

SECRET = generate_webhook_secret()
RAW = b'{"id":"evt_1","type":"message.received","data":{}}'
NOW = 1_795_000_000


def digest(secret: str, raw: bytes) -> bytes:
    return hmac.new(secret.encode(), raw, hashlib.sha256).digest()


HUB = {"X-Hub-Signature-256": "sha256=" + digest(SECRET, RAW).hex()}
CUSTOM = {"header": "X-Wbiz-Signature", "encoding": "base64"}
STANDARD = sign_headers(SECRET, "evt_1", NOW, RAW)

CASES = [
    pytest.param("hub_sha256", {}, HUB, RAW, True, id="hub"),
    pytest.param("hub_sha256", {}, {k.lower(): v for k, v in HUB.items()}, RAW, True,
                 id="hub-header-case"),
    pytest.param("hub_sha256", {}, HUB, RAW + b" ", False, id="hub-body-changed"),
    pytest.param("hub_sha256", {}, {}, RAW, False, id="hub-missing"),
    pytest.param("hub_sha256", {}, {"X-Hub-Signature-256": digest(SECRET, RAW).hex()}, RAW,
                 False, id="hub-without-prefix"),
    pytest.param("hmac", CUSTOM,
                 {"X-Wbiz-Signature": base64.b64encode(digest(SECRET, RAW)).decode()}, RAW, True,
                 id="hmac-custom-header-base64"),
    pytest.param("hmac", CUSTOM, HUB, RAW, False, id="hmac-other-header"),
    pytest.param("standard_webhooks", {}, STANDARD, RAW, True, id="standard"),
    pytest.param("standard_webhooks", {"tolerance_s": 60},
                 sign_headers(SECRET, "evt_1", NOW - 120, RAW), RAW, False, id="standard-stale"),
    pytest.param("standard_webhooks", {}, HUB, RAW, False, id="standard-given-hub"),
    pytest.param("rsa", {}, HUB, RAW, False, id="unknown-scheme"),
]


@pytest.mark.parametrize("scheme, options, headers, raw, ok", CASES)
def test_verify_push(scheme: str, options: dict[str, object], headers: dict[str, str],
                     raw: bytes, ok: bool) -> None:
    verdict = verify_push(scheme, options, SECRET, headers, raw, now=NOW)
    assert verdict.ok is ok
    assert bool(verdict.reason) is not ok


def test_the_reason_names_the_header_to_fix() -> None:
    verdict = verify_push("hub_sha256", {}, "other-secret", HUB, RAW, now=NOW)
    assert verdict.reason == "the X-Hub-Signature-256 header is missing or does not match"
