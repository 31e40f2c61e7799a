"""The action catalog, enough for a Zapier or n8n integration to build its forms.

With `?connection=ID`, each action says whether that connection can run it and, if not, which
abilities its token lacks or that its provider can't do it.
"""

from pathlib import Path
from typing import Any

from flask import Blueprint, request

from connector.api.auth import require_workspace_key
from connector.api.inputs import runtime, workspace_id
from connector.catalog import schema_registry
from connector.errors import NotFound
from connector.schema_inline import inline_refs
from connector.store.connections import get_connection
from connector.store.models import Connection

bp = Blueprint("catalog", __name__, url_prefix="/v1/catalog")
require_workspace_key(bp)


def _connection() -> Connection | None:
    connection_id = request.args.get("connection")
    if not connection_id:
        return None
    with runtime().db.session() as session:
        connection = get_connection(session, workspace_id(), connection_id)
    if connection is None:
        raise NotFound(f"no connection {connection_id!r} in this workspace")
    return connection


def _inlined(schema: Any) -> Any:
    rt = runtime()
    cache: dict[int, Any] = rt.__dict__.setdefault("_inlined_schemas", {})
    if id(schema) not in cache:
        registry = schema_registry(Path(rt.settings.definitions_path))
        cache[id(schema)] = inline_refs(schema, registry)
    return cache[id(schema)]


def _describe(definition: Any, connection: Connection | None, *, full: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "key": definition.key,
        "title": definition.title,
        "description": definition.description,
        "group": definition.group,
        "side_effect": definition.side_effect,
        "idempotency": definition.idempotency,
        "providers": {name: {"abilities": list(entry.abilities)}
                      for name, entry in definition.providers.items()},
    }
    if full:
        view.update(input_schema=_inlined(definition.input_schema),
                    output_schema=_inlined(definition.output_schema), sample=definition.sample)
    if connection is not None:
        entry = definition.provider(connection.provider)
        if entry is None:
            view["available"], view["unavailable_reason"] = False, (
                definition.unsupported_reason(connection.provider))
            view["missing_abilities"] = []
        else:
            missing = sorted(set(entry.abilities) - set(connection.abilities))
            view["available"] = not missing
            view["missing_abilities"] = missing
            if missing:
                view["unavailable_reason"] = f"the token lacks {', '.join(missing)}"
    return view


@bp.get("/actions")
def list_actions() -> dict[str, object]:
    connection = _connection()
    full = request.args.get("schemas", "true").lower() != "false"
    actions = runtime().catalog.actions
    return {"items": [_describe(actions[k], connection, full=full) for k in sorted(actions)]}


@bp.get("/actions/<key>")
def show_action(key: str) -> dict[str, object]:
    definition = runtime().catalog.actions.get(key)
    if definition is None:
        raise NotFound(f"no action {key!r}; GET /v1/catalog/actions lists them")
    return _describe(definition, _connection(), full=True)
