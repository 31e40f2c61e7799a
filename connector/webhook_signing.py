"""Standard Webhooks v1 symmetric signatures, for the hooks we send and the ones we accept.

Spec (reliability.md §2.1): HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}`` with the
base64-decoded part of a ``whsec_`` secret, sent as ``v1,<base64>``; the signature header is a
space-separated list so a secret can rotate without downtime.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets as _random
from collections.abc import Mapping

from connector.security import hmac_sha256

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
"""The spec allows 24-64 random bytes; 32 bytes (256 bits) is all the strength SHA-256 offers."""
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300
"""The reference library rejects timestamps more than 5 minutes from now (replay window)."""

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def generate_webhook_secret() -> str:
    """A new per-endpoint secret, ``whsec_<base64 of 32 random bytes>``."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(raw, validate=True)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one delivery attempt.

    Raises ValueError for a malformed secret, or an id containing ``.`` (the spec forbids it: the
    dot separates the signed parts).
    """
    if "." in msg_id:
        raise ValueError("webhook id must not contain '.'")
    try:
        key = _secret_key(secret)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not whsec_<base64>") from None
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = base64.b64encode(hmac_sha256(key, signed)).decode("ascii")
    return f"{SIGNATURE_VERSION},{digest}"


def sign_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of an outgoing delivery."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(int(timestamp)),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when any ``v1`` signature in the headers matches and the timestamp is fresh.

    Header names are matched case-insensitively. Missing or malformed input returns False.
    Deduplicating on ``webhook-id`` is the caller's job.
    """
    lowered = {str(name).lower(): value for name, value in (headers or {}).items()}
    msg_id = lowered.get(ID_HEADER)
    signatures = lowered.get(SIGNATURE_HEADER)
    try:
        timestamp = int(lowered.get(TIMESTAMP_HEADER, ""))
    except (TypeError, ValueError):
        return False
    if not msg_id or not signatures or body is None or abs(now - timestamp) > tolerance_s:
        return False
    try:
        expected = sign(secret, msg_id, timestamp, bytes(body)).encode("ascii")
    except (ValueError, TypeError):
        return False
    found = False
    for candidate in str(signatures).split(" "):
        # Compare every entry (no early exit), so timing does not reveal which one matched.
        found |= hmac.compare_digest(candidate.encode("utf-8", "replace"), expected)
    return found
