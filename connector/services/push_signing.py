"""The signature check of a connection's platform webhook URL: set, show and remove it, check
each push before anything is stored (connector/push_verify.py holds the schemes), and subscribe
the upstream to the URL in one call, keeping the signing secret it returns once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.config import ROOT
from connector.engine.context import call_context
from connector.engine.outcome import Outcome, OutcomeKind
from connector.errors import (
    AbilityMissing,
    ApiError,
    NotFound,
    SignatureInvalid,
    UnsupportedAction,
    UpstreamUnavailable,
    ValidationFailed,
)
from connector.ids import new_token
from connector.providers.base import CallContext, Provider
from connector.push_verify import DEFAULT_SCHEME, verify_push
from connector.runtime import Runtime
from connector.services.connections import validation_errors
from connector.services.platform import endpoint_url, store_endpoint, token_hash
from connector.store.connections import get_connection
from connector.store.models import Connection
from connector.store.push_models import PushSignature
from connector.store.trigger_models import PlatformEndpoint

OPTION_NAMES = ("header", "prefix", "encoding", "tolerance_s")


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "push_signature.schema.json").read_text())
    return Draft202012Validator(schema)


def _view(connection_id: str, row: PushSignature | None) -> dict[str, Any]:
    if row is None:
        return {"connection": connection_id, "signed": False}
    return {"connection": connection_id, "signed": True, "scheme": row.scheme, **row.options,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None}


def _check_connection(rt: Runtime, workspace_id: str, connection_id: str) -> Connection:
    with rt.db.session() as session:
        connection = get_connection(session, workspace_id, connection_id)
    if connection is None:
        raise NotFound(f"no connection {connection_id!r} in this workspace")
    return connection


def _store(session: Session, rt: Runtime, connection_id: str, scheme: str, options: dict[str, Any],
           secret: str) -> PushSignature:
    row = session.get(PushSignature, connection_id)
    if row is None:
        row = PushSignature(connection_id=connection_id)
        session.add(row)
    row.scheme, row.options = scheme, options
    row.secret_encrypted = rt.cipher.encrypt(secret)
    session.flush()
    return row


def set_signature(rt: Runtime, workspace_id: str, connection_id: str,
                  body: dict[str, Any]) -> dict[str, Any]:
    """Require pushes to be signed with `body.secret` (replacing an earlier secret)."""
    errors = validation_errors(body, _validator())
    if errors:
        raise ValidationFailed("the signature settings are not valid", errors=errors)
    _check_connection(rt, workspace_id, connection_id)
    scheme = body.get("scheme", DEFAULT_SCHEME)
    options = {name: body[name] for name in OPTION_NAMES if name in body}
    with rt.db.session() as session:
        return _view(connection_id, _store(session, rt, connection_id, scheme, options,
                                           body["secret"]))


def get_signature(rt: Runtime, workspace_id: str, connection_id: str) -> dict[str, Any]:
    _check_connection(rt, workspace_id, connection_id)
    with rt.db.session() as session:
        return _view(connection_id, session.get(PushSignature, connection_id))


def remove_signature(rt: Runtime, workspace_id: str, connection_id: str) -> None:
    """Accept unsigned pushes again."""
    _check_connection(rt, workspace_id, connection_id)
    with rt.db.session() as session:
        row = session.get(PushSignature, connection_id)
        if row is not None:
            session.delete(row)


def check_push(rt: Runtime, token: str, headers: Mapping[str, str], raw: bytes, *,
               now: float) -> None:
    """Raise `SignatureInvalid` unless the connection behind `token` takes unsigned pushes or
    `raw` is signed with its secret. An unknown token passes: the ingest answers 404 for it."""
    with rt.db.session() as session:
        row = session.scalar(select(PushSignature).join(
            PlatformEndpoint, PlatformEndpoint.connection_id == PushSignature.connection_id)
            .where(PlatformEndpoint.token_hash == token_hash(token)))
        if row is None:
            return
        scheme, options, sealed = row.scheme, dict(row.options), row.secret_encrypted
    verdict = verify_push(scheme, options, rt.cipher.decrypt(sealed), headers, raw, now=now)
    if not verdict.ok:
        raise SignatureInvalid(f"{verdict.reason}; the connection's platform webhook requires "
                               f"a {scheme} signature")


SUBSCRIBE_FIELDS = frozenset({"events"})
CREATE_OPERATION = "create_webhook"
DELETE_OPERATION = "delete_webhook"
WEBHOOK_ID_OPTION = "webhook_id"
"""Kept in the signature's options by `subscribe_upstream`: the upstream webhook it created."""


def subscribe_upstream(rt: Runtime, workspace_id: str, connection_id: str,
                       body: dict[str, Any]) -> dict[str, Any]:
    """Create a new platform webhook URL, subscribe the upstream's webhooks to it and keep the
    signing secret the upstream returns (encrypted; the default scheme): from then on only
    signed pushes are accepted. The old URL keeps working until the upstream accepted. The
    webhook an earlier subscribe created is then deleted upstream, so events don't arrive
    twice; the answer's `replaced` says whether that worked."""
    unknown = sorted(set(body) - SUBSCRIBE_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]!r}",
                               errors=[{"pointer": f"/{unknown[0]}", "message": "unknown field"}])
    events = body.get("events")
    if events is not None and (not isinstance(events, list) or not events
                               or not all(isinstance(e, str) for e in events)):
        raise ValidationFailed("events must be a non-empty list of event names",
                               errors=[{"pointer": "/events", "message": "a list of strings"}])
    connection = _check_connection(rt, workspace_id, connection_id)
    provider = rt.provider(connection.provider)
    if CREATE_OPERATION not in provider.operations():
        raise UnsupportedAction(
            f"{connection.provider} webhooks can't be created through its API; set the URL from "
            f"POST /v1/connections/{connection_id}/platform-hook in its dashboard")
    token = new_token(24)
    data: dict[str, Any] = {"url": endpoint_url(rt, token)}
    if events:
        data["events"] = events
    with rt.db.session() as session:
        earlier = session.get(PushSignature, connection_id)
        previous = earlier.options.get(WEBHOOK_ID_OPTION) if earlier is not None else None
    # No transaction is open during the upstream call (SQLite would hold its write lock).
    ctx = call_context(rt, connection, rt.cipher.decrypt(connection.token_encrypted))
    outcome = provider.execute(CREATE_OPERATION, {}, data, ctx)
    if not outcome.ok or not isinstance(outcome.output, dict):
        raise _refused(outcome)
    webhook = dict(outcome.output)
    secret = str(webhook.pop("secret"))
    with rt.db.session() as session:
        store_endpoint(session, connection_id, token)
        _store(session, rt, connection_id, DEFAULT_SCHEME,
               {WEBHOOK_ID_OPTION: str(webhook["id"])} if webhook.get("id") else {}, secret)
    answer = {"connection": connection_id, "url": data["url"], "token": token,
              "webhook": webhook, "signed": True, "scheme": DEFAULT_SCHEME}
    if previous and str(previous) != str(webhook.get("id")):
        answer["replaced"] = _delete_upstream(provider, ctx, str(previous))
    return answer


def _delete_upstream(provider: Provider, ctx: CallContext, webhook_id: str) -> dict[str, Any]:
    """Delete the webhook an earlier subscribe created; one already gone counts as deleted."""
    outcome = provider.execute(DELETE_OPERATION, {}, {"id": webhook_id}, ctx)
    if outcome.ok or outcome.http_status == 404:
        return {"id": webhook_id, "deleted": True}
    return {"id": webhook_id, "deleted": False,
            "detail": f"{outcome.kind.value}: {outcome.message}; delete it with the "
                      "delete_webhook action"}


def _refused(outcome: Outcome) -> ApiError:
    detail = f"the upstream did not create the webhook: {outcome.kind.value}: {outcome.message}"
    if outcome.kind is OutcomeKind.SCOPE_MISSING:
        return AbilityMissing(detail)
    if outcome.kind in (OutcomeKind.INVALID, OutcomeKind.HALTED, OutcomeKind.AUTH_INVALID):
        return ValidationFailed(detail, errors=[{"pointer": "", "message": outcome.message}])
    return UpstreamUnavailable(detail)
