"""Creating and testing connections: validate, probe the tenant live, store the token encrypted."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from connector.config import ROOT
from connector.engine.context import call_context
from connector.engine.outcome import OutcomeKind
from connector.errors import NotFound, ValidationFailed
from connector.ids import new_id
from connector.providers.base import ProbeResult
from connector.runtime import Runtime
from connector.store.connections import get_connection
from connector.store.models import Connection, utcnow

# (provider, api_version) the user asked for -> the dialect; without a version, the probe
# detects it (a v1 probe that meets a v2 answer names the v2 dialect in its details).
VERSIONED = {("corbital", "v1"): "corbital", ("corbital", "v2"): "corbital_v2"}

# Where a failed probe points the user: the field they most likely have to fix.
PROBE_POINTERS = {
    OutcomeKind.AUTH_INVALID: "/token",
    OutcomeKind.HALTED: "/tenant",
    OutcomeKind.INVALID: "/base_url",
    OutcomeKind.TRANSIENT: "/base_url",
    OutcomeKind.IN_DOUBT: "/base_url",
    OutcomeKind.UPSTREAM_ERROR: "/base_url",
    OutcomeKind.THROTTLED: "/token",
    OutcomeKind.SCOPE_MISSING: "/token",
}


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "connection.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validation_errors(body: dict[str, Any],
                      validator: Draft202012Validator) -> list[dict[str, str]]:
    errors = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        pointer = "".join(f"/{part}" for part in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            pointer = f"{pointer}/{missing}"
            message = f"'{missing}' is required"
        elif error.validator == "additionalProperties":
            message = error.message
        else:
            # Never echo the offending value: it may be the token.
            message = f"does not satisfy '{error.validator}' {_schema_hint(error.schema)}".strip()
        errors.append({"pointer": pointer, "message": message})
    return errors


def _schema_hint(schema: Any) -> str:
    if isinstance(schema, dict):
        hint = {k: schema[k] for k in ("enum", "pattern", "minimum", "maximum", "format",
                                      "minLength", "maxLength") if k in schema}
        return json.dumps(hint) if hint else ""
    return ""


def create_connection(rt: Runtime, workspace_id: str, body: dict[str, Any]) -> Connection:
    errors = validation_errors(body, _validator())
    if errors:
        raise ValidationFailed("the connection is not valid", errors=errors)
    base_url = body["base_url"] if body["base_url"].endswith("/") else body["base_url"] + "/"
    provider = VERSIONED.get((body["provider"], body.get("api_version")), body["provider"])
    connection = Connection(
        id=new_id("con"), workspace_id=workspace_id,
        name=body.get("name") or body.get("tenant") or body["provider"],
        provider=provider, base_url=base_url, tenant=body.get("tenant"),
        instance_id=body.get("instance_id"),
        token_encrypted=rt.cipher.encrypt(body["token"]),
        rate_limit=body.get("rate_limit", rt.settings.default_rate_limit),
        rate_window_s=body.get("rate_window_s", int(rt.settings.default_rate_window_s)),
        options={k: body[k] for k in ("default_region", "abilities") if k in body})
    result = probe(rt, connection, body["token"])
    detected = result.details.get("provider")
    if "api_version" not in body and detected and detected != connection.provider:
        # The user did not say which API version; the probe found the other one.
        connection.provider = str(detected)
        result = probe(rt, connection, body["token"])
    if not result.outcome.ok:
        raise ValidationFailed(
            "the tenant API did not accept a test call with these settings",
            errors=[{"pointer": result.details.get("pointer")
                     or PROBE_POINTERS.get(result.outcome.kind, "/base_url"),
                     "message": f"{result.outcome.kind.value}: {result.outcome.message}"}])
    _apply_probe(connection, result)
    if "rate_limit" not in body and "rate_limit" in result.details:
        # The upstream announced its limit (WBIZ `X-RateLimit-Limit` per plan): govern by it.
        connection.rate_limit = int(result.details["rate_limit"])
        connection.rate_window_s = int(result.details["rate_window_s"])
    with rt.db.session() as session:
        session.add(connection)
    return connection


def test_connection(rt: Runtime, workspace_id: str, connection_id: str) -> Connection:
    """Re-run the live probe; updates abilities and status and keeps the result."""
    with rt.db.session() as session:
        connection = get_connection(session, workspace_id, connection_id)
    if connection is None:
        raise NotFound(f"no connection {connection_id!r} in this workspace")
    # Probe outside any transaction: SQLite would hold its write lock across HTTP calls.
    result = probe(rt, connection, rt.cipher.decrypt(connection.token_encrypted))
    with rt.db.session() as session:
        connection = session.merge(connection)
        _apply_probe(connection, result)
    return connection


def probe(rt: Runtime, connection: Connection, token: str) -> ProbeResult:
    ctx = call_context(rt, connection, token)
    result: ProbeResult = rt.provider(connection.provider).probe(ctx)
    return result


def _apply_probe(connection: Connection, result: ProbeResult) -> None:
    outcome = result.outcome
    connection.last_test = {"at": utcnow().isoformat(), "outcome": outcome.kind.value,
                            "message": outcome.message, **dict(result.details)}
    if outcome.ok:
        abilities = set(result.abilities)
        declared = (connection.options or {}).get("abilities")
        if declared is not None:
            # Probes prove reads; writes can't be probed, so the user's list is the best word.
            abilities &= set(declared)
        connection.abilities = sorted(abilities)
        connection.status, connection.status_detail = "active", None
    elif outcome.kind is OutcomeKind.AUTH_INVALID:
        connection.status, connection.status_detail = "needs_token", outcome.message
    else:
        connection.status, connection.status_detail = "error", outcome.message
