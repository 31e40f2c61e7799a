"""Inline `$ref`s so a published schema stands alone (Zapier and n8n can't resolve our `$id`s).

Definitions keep shared types by reference (one place to change them); the catalog API shows
each action's schemas with every reference replaced by its target. Sibling keywords of a
`$ref` (usually a field-specific `description`) win over the target's.
"""

from __future__ import annotations

from typing import Any

from referencing import Registry

MAX_DEPTH = 32
DROPPED = ("$schema", "$id", "examples", "x-error")


def inline_refs(schema: Any, registry: Registry, *, base: str = "", depth: int = 0) -> Any:
    """A copy of `schema` with every `$ref` replaced by the referenced schema."""
    if depth > MAX_DEPTH:
        raise ValueError("schema references nest too deeply (a cycle?)")
    if isinstance(schema, list):
        return [inline_refs(item, registry, base=base, depth=depth) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$id" in schema:
        base = str(schema["$id"])
    out: dict[str, Any] = {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved = registry.resolver(base_uri=base).lookup(ref)
        target_base = resolved.resolver._base_uri  # noqa: SLF001 - the target's own base
        target = inline_refs(resolved.contents, registry, base=target_base, depth=depth + 1)
        out.update({k: v for k, v in target.items() if k not in DROPPED})
    for key, value in schema.items():
        if key == "$ref" or key in DROPPED:
            continue
        out[key] = inline_refs(value, registry, base=base, depth=depth + 1)
    return out
