"""Mapping expressions: Jinja2 templates in a sandbox, over a read-only context.

A string field of a step's input (or its `if`) may hold `{{ ... }}` expressions reading the
declared roots (`trigger`, `form`, `steps`). A string that is exactly one `{{ expr }}` keeps the
JSON type of its value (a list stays a list); anything else renders to text. Roots are checked
when a workflow is saved (`check_expression`); at run time any error is a `MappingError` naming
the field and the reason. No `eval`: Jinja's SandboxedEnvironment, with risky globals removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateError, Undefined, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from connector.providers.phones import InvalidPhone, normalize_phone

_SINGLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)
MAX_RENDERED_CHARS = 65_536
"""A rendered string longer than this fails (a template can't blow up memory)."""


class MappingError(ValueError):
    """An expression could not be evaluated; `pointer` locates the field, `raw` the bad value."""

    def __init__(self, pointer: str, reason: str, raw: Any = None) -> None:
        super().__init__(f"{pointer or '/'}: {reason}")
        self.pointer = pointer
        self.reason = reason
        self.raw = raw


class _Missing(ChainableUndefined, StrictUndefined):
    """`trigger.fields.nope.deeper` stays undefined (so `default()` can catch it); printing,
    comparing or iterating it fails with the name that was missing."""


class _PhoneError(Exception):
    def __init__(self, error: InvalidPhone) -> None:
        super().__init__(str(error))
        self.error = error


def split_name(full: Any) -> dict[str, str]:
    """"Ana Maria Souza" -> {"first": "Ana", "last": "Maria Souza"}; one word -> last is ""."""
    parts = str(full or "").split()
    if not parts:
        return {"first": "", "last": ""}
    return {"first": parts[0], "last": " ".join(parts[1:])}


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _default(value: Any, fallback: Any = "") -> Any:
    """`value`, or `fallback` when it is missing, None or an empty string."""
    if isinstance(value, Undefined) or value is None or value == "":
        return fallback
    return value


def _phone_helper(default_region: str | None) -> Callable[..., str]:
    def phone(value: Any, region: str | None = None) -> str:
        if isinstance(value, Undefined):
            value = ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Webflow and Sheets send numbers; never "5511....0"
        try:
            return normalize_phone(str(value if value is not None else ""),
                                   region or default_region)
        except InvalidPhone as error:
            raise _PhoneError(error) from None
    return phone


def _environment(default_region: str | None) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=_Missing, autoescape=False)
    for name in ("range", "lipsum", "cycler", "joiner", "namespace"):
        env.globals.pop(name, None)
    helpers: dict[str, Callable[..., Any]] = {
        "phone": _phone_helper(default_region),
        "split_name": split_name,
        "first_name": lambda full: split_name(full)["first"],
        "last_name": lambda full: split_name(full)["last"],
        "lower": _lower,
        "default": _default,
    }
    env.globals.update(helpers)
    env.filters.update(helpers)
    return env


@lru_cache(maxsize=64)
def _cached_environment(default_region: str | None) -> SandboxedEnvironment:
    return _environment(default_region)


# Compiled expressions and templates are immutable: a workflow's strings compile once per process.
@lru_cache(maxsize=4096)
def _expression(default_region: str | None, source: str) -> Any:
    return _cached_environment(default_region).compile_expression(source,
                                                                  undefined_to_none=False)


@lru_cache(maxsize=4096)
def _template(default_region: str | None, source: str) -> Any:
    return _cached_environment(default_region).from_string(source)


HELPERS = frozenset({"phone", "split_name", "first_name", "last_name", "lower", "default"})
_CHECK_ENV = _environment(None)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_expression(text: str, roots: Sequence[str], earlier_steps: Sequence[str]) -> list[str]:
    """Problems with one template string: syntax, undeclared roots, steps not run before."""
    try:
        ast = _CHECK_ENV.parse(text)
    except TemplateError as error:
        return [f"not a valid expression: {error}"]
    problems = []
    for name in sorted(meta.find_undeclared_variables(ast) - HELPERS):
        if name not in roots:
            problems.append(f"unknown name {name!r}; use one of {', '.join(roots)}")
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == "steps" \
                and node.attr not in earlier_steps:
            problems.append(f"steps.{node.attr} is not an earlier step"
                            + (f" (earlier: {', '.join(earlier_steps)})" if earlier_steps else ""))
    return problems


def iter_strings(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """(RFC 6901 pointer, string) for every string inside a JSON value."""
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_strings(item, f"{pointer}/{_escape(str(key))}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{pointer}/{index}")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


@dataclass
class Mapper:
    """Evaluates templates over one context (`{"trigger": ..., "steps": {...}}`)."""

    context: Mapping[str, Any]
    default_region: str | None = None

    def resolve(self, value: Any, pointer: str = "") -> Any:
        """`value` with every template evaluated; None and "" results drop the key."""
        if isinstance(value, str):
            return self.evaluate(value, pointer) if is_template(value) else value
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                resolved = self.resolve(item, f"{pointer}/{_escape(str(key))}")
                if resolved is not None and resolved != "":
                    out[key] = resolved
            return out
        if isinstance(value, list):
            return [self.resolve(item, f"{pointer}/{i}") for i, item in enumerate(value)]
        return value

    def evaluate(self, text: str, pointer: str = "") -> Any:
        single = _SINGLE.match(text)
        try:
            if single and "{{" not in single.group("expr") and "}}" not in single.group("expr"):
                result = _expression(self.default_region, single.group("expr"))(**self.context)
                if isinstance(result, Undefined):
                    str(result)  # raises with the missing name
                return _plain(result, pointer)
            rendered = _template(self.default_region, text).render(**self.context)
        except _PhoneError as error:
            raise MappingError(pointer, f"phone {error.error.raw!r} is not usable: "
                               f"{error.error.reason}", raw=error.error.raw) from None
        except TemplateError as error:
            raise MappingError(pointer, _reason(error)) from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as error:
            raise MappingError(pointer, f"{type(error).__name__}: {error}") from None
        if len(rendered) > MAX_RENDERED_CHARS:
            raise MappingError(pointer, f"the result is longer than {MAX_RENDERED_CHARS} chars")
        return rendered

    def truthy(self, text: str, pointer: str) -> bool:
        value = self.evaluate(text, pointer)
        if isinstance(value, str):
            return value.strip().lower() not in ("", "false", "0", "no", "none")
        return bool(value)


def _reason(error: TemplateError) -> str:
    message = str(error.message or error)
    return message.replace("'_Missing object'", "a missing value")


def _plain(value: Any, pointer: str) -> Any:
    """Only JSON values leave the sandbox (no Jinja objects, no tuples)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Undefined):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v, pointer) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, pointer) for v in value]
    raise MappingError(pointer, f"the value is a {type(value).__name__}, not JSON")
