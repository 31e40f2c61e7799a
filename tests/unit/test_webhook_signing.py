"""connector.webhook_signing: Standard Webhooks v1 signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from connector.webhook_signing import generate_webhook_secret, sign, sign_headers, verify

# The vector of the reference library's `test_sign_function`
# (standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _spec_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The spec's algorithm, written out independently of the module under test."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_sign_matches_the_reference_vector():
    assert _spec_signature(SECRET, MSG_ID, TIMESTAMP, BODY) == EXPECTED
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_sign_accepts_a_secret_without_prefix():
    assert sign(SECRET.removeprefix("whsec_"), MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_sign_matches_the_spec_for_a_fresh_secret():
    secret = generate_webhook_secret()
    body = '{"name":"Zoë"}'.encode()
    assert sign(secret, "msg_1", 1700000000, body) == _spec_signature(
        secret, "msg_1", 1700000000, body
    )


def test_generated_secret_shape():
    secret = generate_webhook_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert generate_webhook_secret() != secret


@pytest.mark.parametrize(
    "secret, msg_id",
    [
        pytest.param("whsec_%%%", MSG_ID, id="secret-not-base64"),
        pytest.param(SECRET, "msg.1", id="dot-in-id"),
    ],
)
def test_sign_rejects_bad_input(secret, msg_id):
    with pytest.raises(ValueError):
        sign(secret, msg_id, TIMESTAMP, BODY)


def test_sign_headers_round_trip_through_verify():
    headers = sign_headers(SECRET, MSG_ID, TIMESTAMP, BODY)
    assert headers == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": EXPECTED,
    }
    assert verify(SECRET, headers, BODY, now=TIMESTAMP)


def _headers(**overrides):
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": EXPECTED,
    }
    headers.update({k.replace("_", "-"): v for k, v in overrides.items()})
    return {k: v for k, v in headers.items() if v is not None}


OTHER = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="

VERIFY_CASES = [
    pytest.param(_headers(), BODY, TIMESTAMP, True, id="valid"),
    pytest.param(_headers(), BODY, TIMESTAMP + 300, True, id="at-tolerance"),
    pytest.param(_headers(), BODY, TIMESTAMP - 300, True, id="at-tolerance-future"),
    pytest.param(_headers(), BODY, TIMESTAMP + 301, False, id="too-old"),
    pytest.param(_headers(), BODY, TIMESTAMP - 301, False, id="too-new"),
    pytest.param({k.upper(): v for k, v in _headers().items()}, BODY, TIMESTAMP, True,
                 id="header-case"),
    pytest.param(_headers(webhook_signature=f"{OTHER} {EXPECTED}"), BODY, TIMESTAMP, True,
                 id="rotation-list"),
    pytest.param(_headers(webhook_signature=f"v2,{EXPECTED[3:]} {OTHER}"), BODY, TIMESTAMP,
                 False, id="wrong-version"),
    pytest.param(_headers(webhook_signature=EXPECTED[3:]), BODY, TIMESTAMP, False,
                 id="no-version"),
    pytest.param(_headers(webhook_signature=OTHER), BODY, TIMESTAMP, False, id="other-sig"),
    pytest.param(_headers(), BODY + b" ", TIMESTAMP, False, id="body-changed"),
    pytest.param(_headers(webhook_id="msg_other"), BODY, TIMESTAMP, False, id="id-changed"),
    pytest.param(_headers(webhook_timestamp=str(TIMESTAMP + 1)), BODY, TIMESTAMP, False,
                 id="timestamp-changed"),
    pytest.param(_headers(webhook_id=None), BODY, TIMESTAMP, False, id="no-id"),
    pytest.param(_headers(webhook_timestamp=None), BODY, TIMESTAMP, False, id="no-timestamp"),
    pytest.param(_headers(webhook_signature=None), BODY, TIMESTAMP, False, id="no-signature"),
    pytest.param(_headers(webhook_timestamp="soon"), BODY, TIMESTAMP, False, id="bad-timestamp"),
    pytest.param(_headers(webhook_signature="v1,é"), BODY, TIMESTAMP, False, id="non-ascii"),
    pytest.param({}, BODY, TIMESTAMP, False, id="no-headers"),
    pytest.param(_headers(), None, TIMESTAMP, False, id="no-body"),
]


@pytest.mark.parametrize("headers, body, now, expected", VERIFY_CASES)
def test_verify(headers, body, now, expected):
    assert verify(SECRET, headers, body, now=now) is expected


def test_verify_with_a_malformed_secret_is_false():
    assert verify("whsec_%%%", _headers(), BODY, now=TIMESTAMP) is False


def test_verify_honours_a_custom_tolerance():
    assert verify(SECRET, _headers(), BODY, now=TIMESTAMP + 30, tolerance_s=60)
    assert not verify(SECRET, _headers(), BODY, now=TIMESTAMP + 61, tolerance_s=60)
