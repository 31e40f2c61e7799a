"""Workflow definitions: the checks JSON Schema can't express, and resolving a step's input.

Pure: callers pass the catalog, the trigger data and earlier step outputs. The same functions
serve saving (`check_definition`), running (`resolve_step`) and the dry run (`plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.catalog import Catalog, validate_input
from connector.engine.mapping import (
    Mapper,
    MappingError,
    check_expression,
    is_template,
    iter_strings,
)

STOP, CONTINUE = "stop", "continue"


def roots_for(trigger_kind: str) -> tuple[str, ...]:
    """Names a workflow's expressions may read: `form` is `trigger` under its own name."""
    return ("trigger", "form", "steps") if trigger_kind == "form" else ("trigger", "steps")


def check_definition(defn: Mapping[str, Any], catalog: Catalog,
                     provider: str | None) -> list[tuple[str, str]]:
    """(pointer, message) for every problem beyond the schema: names, actions, expressions."""
    problems: list[tuple[str, str]] = []
    trigger = defn.get("trigger") or {}
    roots = roots_for(str(trigger.get("kind")))
    if trigger.get("kind") == "trigger_item" and trigger.get("trigger") not in catalog.triggers:
        problems.append(("/trigger/trigger", f"no catalog trigger {trigger.get('trigger')!r}; "
                         "GET /v1/catalog/triggers lists them"))
    seen: list[str] = []
    for index, step in enumerate(defn.get("steps") or []):
        where = f"/steps/{index}"
        name, key = step.get("name"), step.get("action")
        if name in seen:
            problems.append((f"{where}/name", f"step name {name!r} is used twice"))
        action = catalog.actions.get(key)
        if action is None:
            problems.append((f"{where}/action", f"no action {key!r}; GET /v1/catalog/actions "
                             "lists them"))
        elif provider is not None and action.provider(provider) is None:
            problems.append((f"{where}/action",
                             f"action {key!r} is not available for provider {provider!r}: "
                             + action.unsupported_reason(provider)))
        else:
            known = set(action.input_schema.get("properties") or {})
            for input_key in step.get("input") or {}:
                if input_key not in known:
                    problems.append((f"{where}/input/{input_key}",
                                     f"{key!r} has no input {input_key!r}; it takes "
                                     f"{', '.join(sorted(known))}"))
        texts = list(iter_strings(step.get("input") or {}, f"{where}/input"))
        if step.get("if"):
            texts.append((f"{where}/if", step["if"]))
        for pointer, text in texts:
            if is_template(text):
                problems.extend((pointer, p) for p in check_expression(text, roots, seen))
        seen.append(str(name))
    return problems


def context_for(trigger_kind: str, trigger: Any, outputs: Mapping[str, Any]) -> dict[str, Any]:
    context = {"trigger": trigger, "steps": dict(outputs)}
    if trigger_kind == "form":
        context["form"] = trigger
    return context


@dataclass(frozen=True)
class StepInput:
    skip: bool
    input: dict[str, Any] = field(default_factory=dict)
    errors: tuple[tuple[str, str], ...] = ()


def resolve_step(step: Mapping[str, Any], index: int, context: Mapping[str, Any],
                 catalog: Catalog, default_region: str | None) -> StepInput:
    """The step's condition and input, checked against the action's input schema.

    Raises:
        MappingError: an expression failed; its pointer starts at `/steps/<index>`.
    """
    mapper = Mapper(context, default_region)
    where = f"/steps/{index}"
    if step.get("if") and not mapper.truthy(step["if"], f"{where}/if"):
        return StepInput(skip=True)
    data = mapper.resolve(step.get("input") or {}, f"{where}/input")
    action = catalog.actions[step["action"]]
    errors = tuple((f"{where}/input{p}", m) for p, m in validate_input(action, data))
    return StepInput(skip=False, input=data, errors=errors)


def mapping_error(step: Mapping[str, Any], error: MappingError) -> dict[str, Any]:
    """The run error for a failed expression: step, field and reason (and the raw value)."""
    field_name = error.pointer.split("/input", 1)[-1] or error.pointer
    out = {"kind": "mapping", "step": step.get("name"), "field": field_name,
           "pointer": error.pointer,
           "message": f"step {step.get('name')!r}, field {field_name!r}: {error.reason}"}
    if error.raw is not None:
        out["raw"] = error.raw
    return out


def plan(defn: Mapping[str, Any], trigger: Any, catalog: Catalog, provider: str,
         explain: Callable[[str, Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
         ) -> list[dict[str, Any]]:
    """The dry run: every step's resolved input and the call it would make, making none.

    Earlier steps' outputs are their action's catalog `sample`, so later mappings resolve to
    realistic values. `explain(action_key, input)` may add details (the send path chosen).
    """
    kind = str((defn.get("trigger") or {}).get("kind"))
    outputs: dict[str, Any] = {}
    steps = []
    for index, step in enumerate(defn.get("steps") or []):
        action = catalog.actions[step["action"]]
        entry = action.provider(provider)
        item: dict[str, Any] = {"name": step["name"], "action": step["action"]}
        try:
            resolved = resolve_step(step, index, context_for(kind, trigger, outputs), catalog,
                                    defn.get("default_region"))
        except MappingError as error:
            item.update(would_run=False, error=mapping_error(step, error))
            steps.append(item)
            outputs[step["name"]] = None
            continue
        if resolved.skip:
            item.update(would_run=False, skipped="the condition is false")
        else:
            item.update(would_run=not resolved.errors, input=resolved.input,
                        call={"provider": provider,
                              "operation": entry.operation if entry else None,
                              "side_effect": action.side_effect})
            if resolved.errors:
                item["errors"] = [{"pointer": p, "message": m} for p, m in resolved.errors]
            elif explain is not None:
                detail = explain(step["action"], resolved.input)
                if detail:
                    item["call"]["detail"] = dict(detail)
        steps.append(item)
        outputs[step["name"]] = dict(action.sample) if item.get("would_run") else None
    return steps
