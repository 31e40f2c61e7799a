"""Rule checks on action and trigger definitions, and the error vocabulary the loader shares.

`catalog.load` first checks each file against its meta-schema (pass 1). The rules here check what
a meta-schema cannot say: facts across files (unique keys, known abilities and operations) and the
schemas inside a definition (valid, resolvable, and matched by the sample).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

#: Checks a schema against the Draft 2020-12 meta-schema, including that patterns are regexes.
META_VALIDATOR = Draft202012Validator(
    Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)
IDEMPOTENT_WRITES = ("at_most_once", "natural_key", "read_before_write")
# Compared against property names lower-cased with everything but letters and digits removed,
# so "api_key", "apiKey" and "API-Key" all match "apikey".
SECRET_WORDS = ("token", "password", "passwd", "secret", "apikey", "authorization")
SHOWN_CHARS = 60
_CHECK_URI = "urn:wa-connector:definition"


@dataclass(frozen=True)
class DefinitionError:
    """One problem in one file: `pointer` is an RFC 6901 pointer into that file's JSON."""

    file: str
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}#{self.pointer}: {self.message}"


@dataclass(frozen=True)
class Definition:
    """A parsed definition file that matched its meta-schema, so rules may trust its shape."""

    file: str
    kind: str  # "action" | "trigger"
    data: Mapping[str, Any]

    @property
    def stem(self) -> str:
        return PurePosixPath(self.file).name.removesuffix(".json")


@dataclass(frozen=True)
class RuleContext:
    """What rules may look at besides the definition itself."""

    definitions: Sequence[Definition]
    abilities: Mapping[str, Mapping[str, str]] | None  # None: abilities.json itself is broken
    registry: Registry
    format_checker: FormatChecker
    known_operations: Mapping[str, frozenset[str]] | None = None


# -- pointers and messages ----------------------------------------------------------------------


def pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 pointer from path parts: ("a/b", 0) -> "/a~1b/0"."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def quote(value: Any) -> str:
    """A value as shown in messages: strings in single quotes, the rest as JSON, shortened."""
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def did_you_mean(value: Any, choices: Iterable[Any]) -> str:
    names = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(value, names, n=1) if isinstance(value, str) else []
    return f" (did you mean {quote(close[0])}?)" if close else ""


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "object": "an object",
    "array": "an array",
    "boolean": "true or false",
    "null": "null",
}


def _message(error: ValidationError) -> str:
    kind, expected, value = error.validator, error.validator_value, error.instance
    if kind == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        return f"must be {' or '.join(_TYPE_NAMES.get(n, n) for n in names)}, not {quote(value)}"
    if kind == "enum":
        choices = ", ".join(quote(c) for c in expected)
        return f"must be one of {choices}, not {quote(value)}{did_you_mean(value, expected)}"
    if kind == "const":
        return f"must be {quote(expected)}"
    if kind == "format":
        return f"must be a valid {expected}, not {quote(value)}"
    if kind == "pattern":
        return f"{quote(value)} does not match the pattern {quote(expected)}"
    if kind in ("minLength", "maxLength"):
        bound = "at least" if kind == "minLength" else "at most"
        return f"must be {bound} {expected} characters long"
    if kind in ("minItems", "maxItems"):
        bound = "at least" if kind == "minItems" else "at most"
        return f"must have {bound} {expected} item{'s' if expected != 1 else ''}"
    if kind in ("minProperties", "maxProperties"):
        bound = "at least" if kind == "minProperties" else "at most"
        return f"must have {bound} {expected} propert{'ies' if expected != 1 else 'y'}"
    if kind in ("minimum", "maximum"):
        return f"must be {'at least' if kind == 'minimum' else 'at most'} {expected}"
    if kind == "uniqueItems":
        return "must not contain the same item twice"
    if kind is None:  # the `false` schema
        return "is not allowed here"
    return str(error.message)


def _extra_properties(error: ValidationError) -> list[str]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    declared = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        name
        for name in error.instance
        if name not in declared and not any(re.search(p, name) for p in patterns)
    ]


def describe(error: ValidationError) -> list[tuple[str, str]]:
    """(pointer, message) pairs for one jsonschema error, pointers relative to the instance.

    A missing required property points at the property itself (`/template_name`), and each
    unknown property gets its own entry. A schema's `x-error` replaces the generic message.
    """
    if error.validator in ("anyOf", "oneOf") and error.context:
        return describe(best_match(error.context))
    path = list(error.absolute_path)
    custom = error.schema.get("x-error") if isinstance(error.schema, dict) else None
    if error.validator == "required":
        # jsonschema yields one error per missing name and says it as "'name' is a required ..."
        name = error.message.partition(" is a required property")[0].strip("'\"")
        return [(pointer([*path, name]), custom or f"'{name}' is required")]
    if error.validator == "additionalProperties" and error.validator_value is False:
        schema = error.schema if isinstance(error.schema, dict) else {}
        declared = list(schema.get("properties", {}))
        patterns = ", ".join(quote(p) for p in schema.get("patternProperties", {}))
        hint = f"; names must match {patterns}" if patterns else ""
        return [
            (
                pointer([*path, extra]),
                custom or f"unknown property {quote(extra)}{did_you_mean(extra, declared)}{hint}",
            )
            for extra in _extra_properties(error)
        ]
    return [(pointer(path), custom or _message(error))]


def describe_all(errors: Iterable[ValidationError]) -> list[tuple[str, str]]:
    """`describe` over many errors, dropping repeats (one bad value may break two keywords)."""
    entries: dict[tuple[str, str], None] = {}
    for error in errors:
        entries.update(dict.fromkeys(describe(error)))
    return list(entries)


# -- schema walking -----------------------------------------------------------------------------


def walk_schema(schema: Any, path: tuple[str | int, ...] = (),
                ) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every subschema (dict) with its path, through the keywords that hold schemas.

    Tolerates invalid schemas (check_schemas_valid reports those): odd values are skipped.
    """
    if not isinstance(schema, dict):
        return
    yield path, schema
    for keyword in ("items", "additionalProperties", "not", "if", "then", "else"):
        yield from walk_schema(schema.get(keyword), (*path, keyword))
    for keyword in ("properties", "patternProperties", "$defs"):
        named = schema.get(keyword)
        for name, sub in named.items() if isinstance(named, dict) else ():
            yield from walk_schema(sub, (*path, keyword, name))
    for keyword in ("prefixItems", "allOf", "anyOf", "oneOf"):
        listed = schema.get(keyword)
        for index, sub in enumerate(listed if isinstance(listed, list) else ()):
            yield from walk_schema(sub, (*path, keyword, index))


def unresolved_refs(schema: Any, registry: Registry,
                    base_uri: str) -> list[tuple[tuple[str | int, ...], str]]:
    """(path to the `$ref` keyword, reference) for each `$ref` in `schema` that does not resolve.

    `base_uri` is the schema's `$id`; definitions' inner schemas have none, so relative references
    there resolve against a placeholder and fail, which is the point: use absolute `$id`s.
    """
    registry = registry.with_resource(base_uri, DRAFT202012.create_resource(schema))
    resolver = registry.resolver(base_uri=base_uri)
    broken = []
    for path, sub in walk_schema(schema):
        ref = sub.get("$ref")
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except Unresolvable:
                broken.append(((*path, "$ref"), ref))
    return broken


def _schema_fields(defn: Definition) -> tuple[str, ...]:
    return ("input_schema", "output_schema") if defn.kind == "action" else ("item_schema",)


# -- rules ----------------------------------------------------------------------------------------


def check_key_matches_file(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    key = defn.data["key"]
    if key == defn.stem:
        return []
    message = f"key {quote(key)} must equal the file name {quote(defn.stem)}"
    return [DefinitionError(defn.file, "/key", message)]


def check_keys_unique(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    key = defn.data["key"]
    for other in ctx.definitions:
        if other is defn:
            return []
        if other.data["key"] == key:
            message = (
                f"key {quote(key)} is already used by {other.file}; "
                "keys must be unique across actions and triggers"
            )
            return [DefinitionError(defn.file, "/key", message)]
    return []


def check_abilities_known(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    if ctx.abilities is None:
        return []
    errors = []
    for name, binding in defn.data["providers"].items():
        known = ctx.abilities.get(name)
        if known is None:
            message = (
                f"provider {quote(name)} is not in schemas/abilities.json"
                f"{did_you_mean(name, ctx.abilities)}; known providers: "
                + ", ".join(quote(p) for p in sorted(ctx.abilities))
            )
            errors.append(DefinitionError(defn.file, pointer(["providers", name]), message))
            continue
        for index, ability in enumerate(binding["abilities"]):
            if ability not in known:
                message = (
                    f"ability {quote(ability)} is not a known {quote(name)} ability"
                    f"{did_you_mean(ability, known)}; known abilities are in schemas/abilities.json"
                )
                where = pointer(["providers", name, "abilities", index])
                errors.append(DefinitionError(defn.file, where, message))
    return errors


def check_operation_known(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    if ctx.known_operations is None:
        return []
    errors = []
    for name, binding in defn.data["providers"].items():
        operation = binding.get("operation")
        known = ctx.known_operations.get(name)
        if known is None:
            message = f"provider {quote(name)} has no dialect; known: " + ", ".join(
                quote(p) for p in sorted(ctx.known_operations)
            )
            errors.append(DefinitionError(defn.file, pointer(["providers", name]), message))
        elif operation is not None and operation not in known:
            message = (
                f"operation {quote(operation)} is not implemented by the {quote(name)} dialect"
                f"{did_you_mean(operation, known)}"
            )
            where = pointer(["providers", name, "operation"])
            errors.append(DefinitionError(defn.file, where, message))
    return errors


def check_idempotency(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    if defn.kind != "action":
        return []
    strategy = defn.data.get("idempotency")
    choices = ", ".join(quote(s) for s in IDEMPOTENT_WRITES)
    if defn.data["side_effect"] and strategy is None:
        message = f"a side-effect action must declare 'idempotency': one of {choices}"
    elif defn.data["side_effect"] and strategy == "safe":
        message = f"'safe' is only for reads; a side-effect action must declare one of {choices}"
    elif not defn.data["side_effect"] and strategy not in (None, "safe"):
        message = (
            f"a read must declare 'idempotency' as 'safe' or leave it out, not {quote(strategy)};"
            " if the action changes something, set 'side_effect' to true"
        )
    else:
        return []
    return [DefinitionError(defn.file, "/idempotency", message)]


def check_schemas_valid(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    return [
        DefinitionError(defn.file, pointer([field]) + where, f"not a valid JSON Schema: {message}")
        for field in _schema_fields(defn)
        for where, message in describe_all(META_VALIDATOR.iter_errors(defn.data[field]))
    ]


def check_refs_resolve(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    errors = []
    for field in _schema_fields(defn):
        for path, ref in unresolved_refs(defn.data[field], ctx.registry, _CHECK_URI):
            message = (
                f"$ref {quote(ref)} does not resolve; refer to a schema under schemas/ by its"
                " full $id, such as 'https://wa-connector.dev/schemas/types/phone.schema.json'"
            )
            errors.append(DefinitionError(defn.file, pointer([field, *path]), message))
    return errors


def check_sample_fits(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    field = "output_schema" if defn.kind == "action" else "item_schema"
    schema = defn.data[field]
    if not META_VALIDATOR.is_valid(schema):
        return []  # check_schemas_valid says why
    validator = Draft202012Validator(
        schema, registry=ctx.registry, format_checker=ctx.format_checker
    )
    try:
        found = describe_all(validator.iter_errors(defn.data["sample"]))
    except Unresolvable:
        # The broken $ref is reported where it is written: by check_refs_resolve, or by the
        # loader for a shared schema file. Reporting it again per sample would bury it.
        return []
    return [
        DefinitionError(defn.file, "/sample" + where, f"does not fit {field}: {message}")
        for where, message in found
    ]


def check_dedupe_key(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    if defn.kind != "trigger":
        return []
    key, item_schema = defn.data["dedupe_key"], defn.data["item_schema"]
    declared = list(item_schema.get("properties", {}))
    if key not in declared:
        message = (
            f"dedupe_key {quote(key)} must name a property of item_schema"
            f"{did_you_mean(key, declared)}; declared: " + ", ".join(quote(p) for p in declared)
        )
    elif key not in item_schema.get("required", []):
        message = f"dedupe_key {quote(key)} must be listed in item_schema's 'required'"
    else:
        return []
    return [DefinitionError(defn.file, "/dedupe_key", message)]


def check_no_secret_inputs(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    """Credentials live on the connection (encrypted), so no action input may carry one."""
    if defn.kind != "action":
        return []
    errors = []
    for path, sub in walk_schema(defn.data["input_schema"]):
        for name in sub.get("properties") or {}:
            folded = re.sub(r"[^a-z0-9]", "", name.lower())
            if any(word in folded for word in SECRET_WORDS):
                message = (
                    f"input property {quote(name)} looks like a credential; credentials belong"
                    " to the connection, never to action input"
                )
                where = pointer(["input_schema", *path, "properties", name])
                errors.append(DefinitionError(defn.file, where, message))
    return errors


def check_poll_sources(defn: Definition, ctx: RuleContext) -> list[DefinitionError]:
    """A provider's `poll` (an event feed) feeds a push trigger: actions have none, and its
    operation and abilities must be ones the provider has."""
    errors = []
    for name, binding in defn.data["providers"].items():
        source = binding.get("poll")
        if source is None:
            continue
        where = ["providers", name, "poll"]
        if defn.kind == "action":
            message = "remove 'poll': only push triggers take an event feed"
            errors.append(DefinitionError(defn.file, pointer(where), message))
            continue
        known_ops = (ctx.known_operations or {}).get(name)
        if known_ops is not None and source["operation"] not in known_ops:
            message = (
                f"operation {quote(source['operation'])} is not implemented by the {quote(name)}"
                f" dialect{did_you_mean(source['operation'], known_ops)}"
            )
            errors.append(DefinitionError(defn.file, pointer([*where, "operation"]), message))
        known = (ctx.abilities or {}).get(name)
        for index, ability in enumerate(source["abilities"]):
            if known is not None and ability not in known:
                message = (
                    f"ability {quote(ability)} is not a known {quote(name)} ability"
                    f"{did_you_mean(ability, known)}; known abilities are in schemas/abilities.json"
                )
                errors.append(DefinitionError(defn.file, pointer([*where, "abilities", index]),
                                              message))
    return errors


Rule = Callable[[Definition, RuleContext], list[DefinitionError]]

RULES: tuple[Rule, ...] = (
    check_key_matches_file,
    check_keys_unique,
    check_abilities_known,
    check_operation_known,
    check_idempotency,
    check_schemas_valid,
    check_refs_resolve,
    check_sample_fits,
    check_dedupe_key,
    check_no_secret_inputs,
    check_poll_sources,
)
