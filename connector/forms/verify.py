"""Signature checks for form hooks, on the raw body bytes, in constant time (crm-forms.md §B10).

| scheme | header | signed bytes | encoding |
|---|---|---|---|
| typeform | Typeform-Signature | body | `sha256=` + base64 |
| tally | Tally-Signature | body (or compact re-serialised JSON, as Tally's example) | base64 |
| webflow | x-webflow-signature + x-webflow-timestamp (ms) | `{ts}:{body}` | hex |
| calendly | Calendly-Webhook-Signature `t=..,v1=..` | `{t}.{body}` | hex |
| hmac | configured header | body | hex or base64, optional prefix |
| shared_secret | configured header | — | the header equals the secret |
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connector.security import verify_hmac_signature

DEFAULT_TOLERANCE_S = 300


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


OK = Verdict(True)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify(config: Mapping[str, Any] | None, secret: str | None, headers: Mapping[str, str],
           raw: bytes, *, now: float) -> Verdict:
    """Check one request against a workflow's `verify` block; no block means nothing to check."""
    if not config:
        return OK
    scheme = config.get("scheme")
    if not secret:
        return Verdict(False, "the workflow has no secret for its signature check")
    tolerance = float(config.get("tolerance_s") or DEFAULT_TOLERANCE_S)
    if scheme == "typeform":
        return _signed(verify_hmac_signature(secret, raw, _header(headers, "Typeform-Signature"),
                                             encoding="base64", prefix="sha256="),
                       "Typeform-Signature")
    if scheme == "tally":
        return _tally(secret, raw, _header(headers, "Tally-Signature"))
    if scheme == "webflow":
        return _webflow(secret, raw, headers, now=now, tolerance_s=tolerance)
    if scheme == "calendly":
        return _calendly(secret, raw, _header(headers, "Calendly-Webhook-Signature"),
                         now=now, tolerance_s=tolerance)
    name = str(config.get("header") or "X-Signature")
    if scheme == "hmac":
        encoding: Literal["hex", "base64"] = \
            "base64" if config.get("encoding") == "base64" else "hex"
        return _signed(verify_hmac_signature(secret, raw, _header(headers, name),
                                             encoding=encoding, prefix=config.get("prefix") or ""),
                       name)
    if scheme == "shared_secret":
        presented = (_header(headers, name) or "").encode()
        return _signed(hmac.compare_digest(presented, secret.encode()), name)
    return Verdict(False, f"unknown signature scheme {scheme!r}")


def _signed(ok: bool, header: str) -> Verdict:
    return OK if ok else Verdict(False, f"the {header} header is missing or does not match")


def _tally(secret: str, raw: bytes, signature: str | None) -> Verdict:
    if verify_hmac_signature(secret, raw, signature, encoding="base64"):
        return OK
    # Tally's own example signs JSON.stringify(parsed body): compact, non-ASCII kept.
    try:
        compact = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        return _signed(False, "Tally-Signature")
    return _signed(verify_hmac_signature(secret, compact.encode(), signature, encoding="base64"),
                   "Tally-Signature")


def _fresh(ts_s: float, now: float, tolerance_s: float) -> bool:
    return abs(now - ts_s) <= tolerance_s


def _webflow(secret: str, raw: bytes, headers: Mapping[str, str], *, now: float,
             tolerance_s: float) -> Verdict:
    stamp = (_header(headers, "x-webflow-timestamp") or "").strip()
    if not stamp.isdigit():
        return Verdict(False, "the x-webflow-timestamp header is missing")
    if not _fresh(int(stamp) / 1000, now, tolerance_s):
        return Verdict(False, f"the signed timestamp is more than {int(tolerance_s)} s old")
    return _signed(verify_hmac_signature(secret, stamp.encode() + b":" + raw,
                                         _header(headers, "x-webflow-signature"), encoding="hex"),
                   "x-webflow-signature")


def _calendly(secret: str, raw: bytes, header: str | None, *, now: float,
              tolerance_s: float) -> Verdict:
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    stamp, signature = parts.get("t", "").strip(), parts.get("v1", "").strip()
    if not stamp.isdigit() or not signature:
        return Verdict(False, "the Calendly-Webhook-Signature header is missing or malformed")
    if not _fresh(int(stamp), now, tolerance_s):
        return Verdict(False, f"the signed timestamp is more than {int(tolerance_s)} s old")
    return _signed(verify_hmac_signature(secret, stamp.encode() + b"." + raw, signature,
                                         encoding="hex"), "Calendly-Webhook-Signature")
