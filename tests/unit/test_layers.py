"""Imports point one way (STYLE rule 1): the engine, providers, catalog and security never
import Flask, RQ or the HTTP API, so they run the same in a request, a worker and a test."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "connector"
PURE = ["engine", "providers", "catalog.py", "catalog_rules.py", "security.py", "ssrf.py",
        "webhook_signing.py"]
FORBIDDEN = ("flask", "rq", "connector.api", "werkzeug")


def _modules() -> list[Path]:
    found: list[Path] = []
    for name in PURE:
        path = ROOT / name
        if path.is_dir():
            found.extend(sorted(path.rglob("*.py")))
        elif path.exists():
            found.append(path)
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports_no_web_or_queue(path: Path) -> None:
    bad = {name for name in _imports(path)
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_there_are_pure_modules_to_check() -> None:
    assert len(_modules()) >= 8
