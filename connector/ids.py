"""Prefixed, sortable ids (`run_…`, `con_…`): a millisecond timestamp then randomness.

Sortable so "newest first" is an index scan; only `[A-Za-z0-9_]` so a run id is a valid RQ job id.
"""

import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    millis = int(time.time() * 1000)
    return f"{prefix}_{_base36(millis, 9)}{_base36(secrets.randbits(64), 13)}"


def new_token(nbytes: int = 24) -> str:
    """An unguessable URL-safe token (secret hook URLs)."""
    return secrets.token_urlsafe(nbytes)
