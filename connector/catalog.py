"""Loads actions/ and triggers/ into a read-only Catalog, or reports every error in them.

Pass 1 checks each file against its meta-schema in schemas/; pass 2 runs the `RULES` of
`connector.catalog_rules`. Errors from both passes are raised together as one `CatalogError`.
Run `python -m connector.catalog [ROOT]` to check a checkout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from connector.catalog_rules import (
    META_VALIDATOR,
    RULES,
    Definition,
    DefinitionError,
    RuleContext,
    describe_all,
    pointer,
    quote,
    unresolved_refs,
)

__all__ = [
    "ActionDefinition",
    "Catalog",
    "CatalogError",
    "DefinitionError",
    "FORMAT_CHECKER",
    "PollSource",
    "ProviderEntry",
    "TriggerDefinition",
    "load",
    "schema_registry",
    "validate_input",
]

SCHEMAS_DIR = "schemas"
META_SCHEMAS = {"action": "schemas/action.schema.json", "trigger": "schemas/trigger.schema.json"}
DEFINITION_DIRS = {"action": "actions", "trigger": "triggers"}
ABILITIES_FILE = "schemas/abilities.json"
ABILITIES_SCHEMA = "schemas/abilities.schema.json"
_REPO_ROOT = Path(__file__).resolve().parent.parent

# jsonschema checks "uri" and "date-time" only with optional extra packages, so we check them here.
FORMAT_CHECKER = FormatChecker(formats=("email",))
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.IGNORECASE)


@FORMAT_CHECKER.checks("uri", raises=ValueError)  # type: ignore[untyped-decorator]
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _URI_SCHEME.match(value) or any(c.isspace() or ord(c) < 0x20 for c in value):
        return False
    parts = urlsplit(value)  # raises ValueError on a malformed host, e.g. "http://[::1"
    return parts.scheme.lower() not in ("http", "https") or bool(parts.hostname)


@FORMAT_CHECKER.checks("date-time", raises=ValueError)  # type: ignore[untyped-decorator]
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    # The pattern demands RFC 3339's shape; fromisoformat then rejects impossible dates (Feb 30).
    return bool(_RFC3339.match(value)) and bool(datetime.fromisoformat(value.upper()))


@dataclass(frozen=True)
class PollSource:
    """A push trigger's event feed on one provider (schemas/poll_source.schema.json)."""

    strategy: str  # "cursor_feed"
    operation: str
    abilities: tuple[str, ...]


@dataclass(frozen=True)
class ProviderEntry:
    """How one provider performs a definition: `operation` is None for push-only triggers;
    `poll` is a push trigger's event feed on this provider, if it has one."""

    name: str
    operation: str | None
    resource: str | None
    abilities: tuple[str, ...]
    poll: PollSource | None = None


class _ProviderLookup:
    providers: Mapping[str, ProviderEntry]

    def provider(self, name: str) -> ProviderEntry | None:
        """The entry for provider `name`, or None when the definition has none for it."""
        return self.providers.get(name)

    def abilities_for(self, provider: str) -> frozenset[str]:
        """Abilities a token needs to use this definition with `provider` (empty if unbound)."""
        entry = self.providers.get(provider)
        return frozenset(entry.abilities) if entry else frozenset()


@dataclass(frozen=True, eq=False)
class ActionDefinition(_ProviderLookup):
    """One actions/<key>.json. Schema and sample dicts are shared: treat them as read-only."""

    key: str
    title: str
    description: str
    group: str
    side_effect: bool
    idempotency: str  # "safe" when the file leaves it out
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any]
    sample: Mapping[str, Any]
    providers: Mapping[str, ProviderEntry]
    file: str
    input_validator: Draft202012Validator = field(repr=False)
    output_validator: Draft202012Validator = field(repr=False)
    # provider -> why it can't do this action (shown instead of a bare "not supported").
    unsupported: Mapping[str, str] = field(default_factory=dict)

    def unsupported_reason(self, provider: str) -> str:
        return self.unsupported.get(provider) or f"not supported by provider {provider!r}"


@dataclass(frozen=True, eq=False)
class TriggerDefinition(_ProviderLookup):
    """One triggers/<key>.json. Schema and sample dicts are shared: treat them as read-only."""

    key: str
    kind: str  # "poll" | "push"
    title: str
    description: str
    event: str
    providers: Mapping[str, ProviderEntry]
    item_schema: Mapping[str, Any]
    sample: Mapping[str, Any]
    dedupe_key: str
    ordering: str | None  # poll triggers only
    file: str
    item_validator: Draft202012Validator = field(repr=False)

    def polled_on(self, provider: str) -> bool:
        """True when a connection of `provider` gets this trigger's items by polling: a poll
        trigger it supports, or a push trigger with an event feed (`poll`) on it."""
        entry = self.providers.get(provider)
        return entry is not None and (self.kind == "poll" or entry.poll is not None)


@dataclass(frozen=True)
class Catalog:
    actions: Mapping[str, ActionDefinition]
    triggers: Mapping[str, TriggerDefinition]
    abilities: Mapping[str, Mapping[str, str]]  # provider -> ability -> description


class CatalogError(Exception):
    """The definitions have errors; `errors` holds every one, `str()` lists one per line."""

    def __init__(self, errors: Sequence[DefinitionError]) -> None:
        self.errors = tuple(errors)
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


# -- loading --------------------------------------------------------------------------------------


def _read_json(root: Path, path: Path, errors: list[DefinitionError]) -> Any | None:
    file = path.relative_to(root).as_posix()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        message = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start})"
    errors.append(DefinitionError(file, "", message))
    return None


def _schema_errors(file: str, validator: Any, instance: Any) -> list[DefinitionError] | None:
    """Errors of `instance` against `validator`'s schema; None if that schema has a broken $ref
    (the loader reports it for the schema's own file, once)."""
    try:
        found = describe_all(validator.iter_errors(instance))
    except Unresolvable:
        return None
    return [DefinitionError(file, p, m) for p, m in found]


def _read_schemas(root: Path, errors: list[DefinitionError]) -> tuple[Registry, dict[str, Any]]:
    """Registry of every usable schemas/**/*.schema.json by `$id`, and all schemas/ JSON by file."""
    documents = {
        path.relative_to(root).as_posix(): _read_json(root, path, errors)
        for path in sorted((root / SCHEMAS_DIR).rglob("*.json"))
    }
    resources: dict[str, tuple[str, Resource[Any]]] = {}
    for file, schema in documents.items():
        if schema is None or not file.endswith(".schema.json"):
            continue
        found = _schema_errors(file, META_VALIDATOR, schema) or []
        schema_id = schema.get("$id") if isinstance(schema, dict) else None
        if not isinstance(schema_id, str):
            found.append(DefinitionError(file, "/$id", "add an absolute '$id' for $ref to use"))
        elif schema_id in resources:
            message = f"$id {quote(schema_id)} is already used by {resources[schema_id][0]}"
            found.append(DefinitionError(file, "/$id", message))
        errors.extend(found)
        if not found and isinstance(schema_id, str):
            resources[schema_id] = (file, DRAFT202012.create_resource(schema))
    registry = Registry().with_resources((i, r) for i, (_, r) in resources.items()).crawl()
    for schema_id, (file, resource) in resources.items():
        for path, ref in unresolved_refs(resource.contents, registry, schema_id):
            message = f"$ref {quote(ref)} does not resolve to a schema under schemas/"
            errors.append(DefinitionError(file, pointer(path), message))
    return registry, documents


def schema_registry(root: Path) -> Registry:
    """The `referencing.Registry` of root/schemas/, by `$id`; raises CatalogError if any is bad."""
    errors: list[DefinitionError] = []
    registry, _ = _read_schemas(Path(root), errors)
    if errors:
        raise CatalogError(errors)
    return registry


def _validator(schema: Any, registry: Registry) -> Draft202012Validator:
    return Draft202012Validator(schema, registry=registry, format_checker=FORMAT_CHECKER)


def _checked(
    root: Path, registry: Registry, documents: Mapping[str, Any], errors: list[DefinitionError]
) -> tuple[Mapping[str, Mapping[str, str]] | None, list[Definition]]:
    """Pass 1: abilities.json and every definition file against their meta-schemas."""
    validators = {}
    for kind, file in (*META_SCHEMAS.items(), ("abilities", ABILITIES_SCHEMA)):
        schema = documents.get(file)
        if file not in documents:
            errors.append(DefinitionError(file, "", "file is missing"))
        elif META_VALIDATOR.is_valid(schema):
            validators[kind] = _validator(schema, registry)

    abilities = None  # until checked: rules skip ability checks rather than trust a bad file
    if ABILITIES_FILE not in documents:
        errors.append(DefinitionError(ABILITIES_FILE, "", "file is missing"))
    elif "abilities" in validators and documents[ABILITIES_FILE] is not None:
        found = _schema_errors(ABILITIES_FILE, validators["abilities"], documents[ABILITIES_FILE])
        errors.extend(found or [])
        abilities = documents[ABILITIES_FILE] if found == [] else None

    definitions = []
    for kind, folder in DEFINITION_DIRS.items():
        for path in sorted((root / folder).glob("*.json")):
            data = _read_json(root, path, errors)
            if data is None or kind not in validators:
                continue
            file = path.relative_to(root).as_posix()
            found = _schema_errors(file, validators[kind], data)
            errors.extend(found or [])
            if found == []:
                definitions.append(Definition(file, kind, data))
    return abilities, definitions


def _providers(data: Mapping[str, Any]) -> Mapping[str, ProviderEntry]:
    return MappingProxyType(
        {
            name: ProviderEntry(
                name, entry.get("operation"), entry.get("resource"), tuple(entry["abilities"]),
                _poll_source(entry.get("poll")),
            )
            for name, entry in data["providers"].items()
        }
    )


def _poll_source(data: Mapping[str, Any] | None) -> PollSource | None:
    if data is None:
        return None
    return PollSource(data["strategy"], data["operation"], tuple(data["abilities"]))


def _action(defn: Definition, registry: Registry) -> ActionDefinition:
    data = defn.data
    return ActionDefinition(
        key=data["key"],
        title=data["title"],
        description=data["description"],
        group=data["group"],
        side_effect=data["side_effect"],
        idempotency=data.get("idempotency", "safe"),
        input_schema=data["input_schema"],
        output_schema=data["output_schema"],
        sample=data["sample"],
        providers=_providers(data),
        file=defn.file,
        input_validator=_validator(data["input_schema"], registry),
        output_validator=_validator(data["output_schema"], registry),
        unsupported=MappingProxyType(dict(data.get("unsupported", {}))),
    )


def _trigger(defn: Definition, registry: Registry) -> TriggerDefinition:
    data = defn.data
    return TriggerDefinition(
        key=data["key"],
        kind=data["kind"],
        title=data["title"],
        description=data["description"],
        event=data["event"],
        providers=_providers(data),
        item_schema=data["item_schema"],
        sample=data["sample"],
        dedupe_key=data["dedupe_key"],
        ordering=data.get("ordering"),
        file=defn.file,
        item_validator=_validator(data["item_schema"], registry),
    )


def load(root: Path, *, known_operations: Mapping[str, frozenset[str]] | None = None) -> Catalog:
    """Load and check root/actions, root/triggers and root/schemas.

    Args:
        root: the directory holding actions/, triggers/ (optional) and schemas/.
        known_operations: provider name -> operations its dialect implements; when given, every
            definition's operation is checked against it.
    Raises:
        CatalogError: with every error found, grouped by file.
    """
    root = Path(root)
    errors: list[DefinitionError] = []
    registry, documents = _read_schemas(root, errors)
    abilities, definitions = _checked(root, registry, documents, errors)
    ctx = RuleContext(definitions, abilities, registry, FORMAT_CHECKER, known_operations)
    for defn in definitions:
        for rule in RULES:
            errors.extend(rule(defn, ctx))
    if errors:
        # Stable sort: each file's errors stay together, meta-schema errors before rule errors.
        raise CatalogError(sorted(errors, key=lambda error: error.file))
    actions = {d.data["key"]: _action(d, registry) for d in definitions if d.kind == "action"}
    triggers = {d.data["key"]: _trigger(d, registry) for d in definitions if d.kind == "trigger"}
    return Catalog(
        actions=MappingProxyType(dict(sorted(actions.items()))),
        triggers=MappingProxyType(dict(sorted(triggers.items()))),
        abilities=MappingProxyType({p: MappingProxyType(a) for p, a in (abilities or {}).items()}),
    )


def validate_input(defn: ActionDefinition, data: Any) -> list[tuple[str, str]]:
    """Every problem with `data` as input to `defn`, as (RFC 6901 pointer, message) pairs.

    A missing required property points at where it belongs (`/template_name`); an empty list
    means the input is valid.
    """
    return describe_all(defn.input_validator.iter_errors(data))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connector.catalog", description="Check action and trigger definitions."
    )
    parser.add_argument(
        "root", nargs="?", type=Path, default=_REPO_ROOT,
        help="directory holding actions/, triggers/ and schemas/ (default: this checkout)",
    )
    args = parser.parse_args(argv)
    try:
        catalog = load(args.root)
    except CatalogError as exc:
        for error in exc.errors:
            print(error)
        return 1
    print(f"{len(catalog.actions)} actions, {len(catalog.triggers)} triggers OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
