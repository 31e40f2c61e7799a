"""Secrets at rest and in logs: token encryption, API-key hashing, HMAC checks, redaction.

Pure: no Flask, RQ or IO beyond the dev key file. The SSRF guard lives in `connector.ssrf` and
Standard-Webhooks signing in `connector.webhook_signing`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets as _random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

REDACTED = "[REDACTED]"

KEY_FILE_MODE = 0o600
API_KEY_RANDOM_BYTES = 32
"""256 bits: `secrets.token_urlsafe(32)` gives 43 url-safe characters."""
API_KEY_LOOKUP_PREFIX_CHARS = 12


class SecretKeyError(ValueError):
    """A configured Fernet key is missing or malformed. The message never holds the key."""


class SecretDecryptError(Exception):
    """A stored token could not be decrypted: wrong key, tampered, or not a token at all."""


_UNDECRYPTABLE = "stored secret cannot be decrypted with the configured keys"


# --- token encryption ------------------------------------------------------------------------


class TokenCipher:
    """Encrypts connection tokens with MultiFernet: the first key encrypts, any key decrypts.

    Rotation (reliability.md §6): prepend a new key, `rotate()` every stored token, then drop the
    old key from the setting.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, str):
            raise TypeError("TokenCipher takes a list of keys; use TokenCipher.from_setting(str)")
        if not keys:
            raise SecretKeyError("no encryption key configured")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # Fernet's own message is safe, but we name the position, never the value.
                raise SecretKeyError(
                    f"encryption key #{position} is not a Fernet key (32 url-safe base64 bytes); "
                    "generate one with TokenCipher.generate_key()"
                ) from None
        self._fernet = MultiFernet(fernets)
        self._key_count = len(fernets)

    @classmethod
    def from_setting(cls, value: str) -> TokenCipher:
        """Build from a comma-separated setting such as ``"new_key,old_key"``."""
        keys = [part.strip() for part in (value or "").split(",") if part.strip()]
        if not keys:
            raise SecretKeyError("the secret key setting is empty")
        return cls(keys)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Raises `SecretDecryptError` (whose message holds no part of the token)."""
        try:
            return self._fernet.decrypt(_token_bytes(token)).decode("utf-8")
        except (InvalidToken, UnicodeError, TypeError, ValueError):
            raise SecretDecryptError(_UNDECRYPTABLE) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the first key, keeping its original timestamp."""
        try:
            return self._fernet.rotate(_token_bytes(token)).decode("ascii")
        except (InvalidToken, UnicodeError, TypeError, ValueError):
            raise SecretDecryptError(_UNDECRYPTABLE) from None

    def __repr__(self) -> str:
        return f"<TokenCipher keys={self._key_count}>"


def _token_bytes(token: str | bytes) -> bytes:
    if isinstance(token, bytes):
        return token
    if isinstance(token, str):
        return token.encode("ascii")
    raise TypeError("token must be str")


def load_or_create_key(path: Path) -> str:
    """Dev mode: return the key setting stored in `path`, creating a new key (mode 0600) if absent.

    Production passes CONNECTOR_SECRET_KEY instead; the key must live outside Redis and the DB
    (reliability.md §6). The file may hold a comma-separated list, like the setting.
    """
    path = Path(path)
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Write a temporary file, then hard-link it into place: the link fails if another process
    # won the race, and then both use the winner's key instead of encrypting under two keys.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{_random.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    try:
        os.fchmod(fd, KEY_FILE_MODE)
        os.write(fd, (TokenCipher.generate_key() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)
    return _read_key_file(path)


def _read_key_file(path: Path) -> str:
    value = path.read_text(encoding="ascii").strip()
    TokenCipher.from_setting(value)  # fail fast on an empty or corrupt file; never overwrite it
    return value


# --- API keys --------------------------------------------------------------------------------


def generate_api_key(prefix: str = "wak") -> tuple[str, str]:
    """Return ``(plaintext, lookup_prefix)``, e.g. ``("wak_live_<43 chars>", "wak_live_xYz")``.

    The plaintext is shown once; store only `hash_api_key(plaintext)` and the lookup prefix.
    """
    plaintext = f"{prefix}_live_{_random.token_urlsafe(API_KEY_RANDOM_BYTES)}"
    return plaintext, plaintext[:API_KEY_LOOKUP_PREFIX_CHARS]


def hash_api_key(plaintext: str) -> str:
    """SHA-256 hex of the key.

    A plain fast hash is right here: the key carries 256 random bits, so neither brute force nor
    a dictionary can find a preimage. Slow KDFs (bcrypt, argon2) exist to stretch low-entropy
    passwords; here they would only add tens of milliseconds to every authenticated request and
    would prevent the indexed `key_hash = ?` lookup.
    """
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def verify_api_key(plaintext: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key against its stored hash."""
    if not isinstance(plaintext, str) or not isinstance(stored_hash, str):
        return False
    return hmac.compare_digest(hash_api_key(plaintext), stored_hash.lower())


# --- HMAC ------------------------------------------------------------------------------------


def hmac_sha256(secret: bytes | str, message: bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).digest()


def verify_hmac_signature(
    secret: bytes | str | None,
    raw_body: bytes | None,
    signature: str | bytes | None,
    *,
    encoding: Literal["hex", "base64"],
    prefix: str = "",
) -> bool:
    """Check an HMAC-SHA256 signature header (e.g. ``sha256=<hex>``) in constant time.

    Missing, empty or malformed input returns False; this never raises for bad input.
    """
    if not secret or raw_body is None or not signature:
        return False
    try:
        text = signature.decode("ascii") if isinstance(signature, bytes) else str(signature)
        text = text.strip()
        if prefix:
            if not text.startswith(prefix):
                return False
            text = text[len(prefix):]
        if encoding == "hex":
            presented = bytes.fromhex(text)
        elif encoding == "base64":
            presented = base64.b64decode(text, validate=True)
        else:
            return False
        expected = hmac_sha256(secret, bytes(raw_body))
    except (ValueError, TypeError, UnicodeError):
        return False
    return hmac.compare_digest(presented, expected)


# --- redaction (STYLE rule 18) ---------------------------------------------------------------

_SECRET_HEADER_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie",
                                  "x-api-key"})
_SECRET_HEADER_PARTS = ("token", "secret", "key", "signature")
_AUTH_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s+\S")

# Normalised (lower case, "-" -> "_") key names whose values are always redacted, and parts that
# make a key secret wherever they appear ("refresh_token", "client_secret", "x_api_key").
_SECRET_KEY_PARTS = ("token", "password", "passwd", "secret", "api_key", "apikey",
                     "authorization", "cookie", "credential", "private_key")
# Extra query-parameter names that carry credentials in URLs (`?key=`, `?sig=`).
_SECRET_QUERY_NAMES = frozenset({"key", "sig", "signature", "auth", "code"})
_BEARER_IN_TEXT = re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def is_secret_key(name: object) -> bool:
    """True when a mapping key or parameter name names a credential (token, password, ...)."""
    return _is_secret_name(name) if isinstance(name, str) else _is_secret_name(str(name))


@functools.lru_cache(maxsize=4096)  # every stored exchange walks the same few dozen key names
def _is_secret_name(name: str) -> bool:
    normal = name.lower().replace("-", "_")
    return any(part in normal for part in _SECRET_KEY_PARTS)


def redact_headers(
    headers: Mapping[str, Any] | None, secrets: Iterable[str] = ()
) -> dict[str, Any]:
    """Copy `headers` with credential values replaced by ``[REDACTED]``.

    Authorization-style values keep their scheme word (``Bearer [REDACTED]``) so a record still
    shows which kind of credential was sent.
    """
    needles = _needles(secrets)
    result: dict[str, Any] = {}
    for name, value in (headers or {}).items():
        lower = str(name).lower()
        if lower in _SECRET_HEADER_NAMES or any(part in lower for part in _SECRET_HEADER_PARTS):
            match = _AUTH_SCHEME.match(value) if isinstance(value, str) else None
            if match is not None and "authorization" in lower:
                result[name] = f"{match.group(1)} {REDACTED}"
            else:
                result[name] = REDACTED
        else:
            result[name] = _redact_value(value, needles)
    return result


def redact(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """Return a copy of `obj` safe to log or store.

    Walks dicts, lists and tuples: values under secret-like keys (`is_secret_key`) become
    ``[REDACTED]``, every occurrence of a string in `secrets` inside any string is replaced, and
    ``Bearer <token>`` in free text loses its token. A dict or list with nothing to redact comes
    back as it is, not copied: treat the result as read-only.
    """
    needles = _needles(secrets)
    if isinstance(obj, dict | list) and _nothing_to_redact(obj, needles):
        return obj
    return _redact_value(obj, needles)


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def _nothing_to_redact(obj: Any, needles: tuple[str, ...]) -> bool:
    """True when `obj` has provably nothing `_redact_value` would change: no secret, no secret
    key name part and no "bearer" anywhere in its JSON text (keys and values alike).

    A page of contacts is hundreds of strings; walking them in Python cost more than the
    request that fetched them. One `json.dumps` (C) and a few substring searches decide for
    the common case; anything unusual (a value JSON can't encode, a secret with characters JSON
    escapes, any hit at all) takes the walk.
    """
    if any(_JSON_ESCAPED.search(needle) for needle in needles):
        return False
    try:
        text = json.dumps(obj, ensure_ascii=False)
    except (TypeError, ValueError):
        return False
    if any(needle in text for needle in needles):
        return False
    probe = text.lower().replace("-", "_")
    return "bearer" not in probe and not any(part in probe for part in _SECRET_KEY_PARTS)


def _needles(secrets: Iterable[str]) -> tuple[str, ...]:
    # Longest first, so a secret that contains another is replaced whole; empty strings would
    # match everywhere.
    return tuple(sorted({s for s in secrets if isinstance(s, str) and s}, key=len, reverse=True))


def _redact_value(obj: Any, needles: tuple[str, ...]) -> Any:
    if isinstance(obj, str):
        return _redact_text(obj, needles)
    if isinstance(obj, bytes):
        text = obj.decode("utf-8", errors="replace")
        redacted = _redact_text(text, needles)
        return obj if redacted == text else redacted.encode("utf-8")
    if isinstance(obj, Mapping):
        # An empty credential stays visible: "token was missing" is a useful, harmless fact.
        return {
            key: REDACTED
            if is_secret_key(key) and value not in (None, "")
            else _redact_value(value, needles)
            for key, value in obj.items()
        }
    if isinstance(obj, list):
        return [_redact_value(item, needles) for item in obj]
    if isinstance(obj, tuple):
        return tuple(_redact_value(item, needles) for item in obj)
    return obj


def _redact_text(text: str, needles: tuple[str, ...]) -> str:
    for needle in needles:
        text = text.replace(needle, REDACTED)
    return _BEARER_IN_TEXT.sub(rf"\1 {REDACTED}", text)


def redact_url(url: str, secrets: Iterable[str] = ()) -> str:
    """Drop userinfo and redact credential query parameters (``?token=[REDACTED]``).

    The rest of the URL keeps its original encoding. An unparsable URL becomes ``[REDACTED]``.
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc = f"{netloc}:{port}"
    query = "&".join(_redact_query_pair(pair) for pair in parts.query.split("&"))
    cleaned = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return _redact_text(cleaned, _needles(secrets))


def _redact_query_pair(pair: str) -> str:
    name, sep, value = pair.partition("=")
    decoded = unquote_plus(name)
    if sep and value and (is_secret_key(decoded) or decoded.lower() in _SECRET_QUERY_NAMES):
        return f"{name}={REDACTED}"
    return pair


_PHONE_MASK = "****"


def mask_phone(phone: str | None) -> str | None:
    """``"+4915112345678"`` -> ``"+49151****678"``: country code and a few digits stay readable.

    A fixed-width mask also hides the number's length. A WhatsApp JID keeps its ``@`` suffix.
    """
    if not phone:
        return phone
    number, at, suffix = phone.partition("@")
    plus = "+" if number.strip().startswith("+") else ""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) >= 10:
        masked = f"{digits[:5]}{_PHONE_MASK}{digits[-3:]}"
    elif len(digits) >= 6:
        masked = f"{digits[:2]}{_PHONE_MASK}{digits[-2:]}"
    else:
        masked = _PHONE_MASK
    return f"{plus}{masked}{at}{suffix}"
