"""connector/sync is pure of Flask and RQ (STYLE rule 1): it runs the same in a worker, the CLI
and a benchmark."""

from pathlib import Path

import pytest

from tests.unit.test_layers import FORBIDDEN, _imports

SYNC = Path(__file__).resolve().parents[3] / "connector" / "sync"


@pytest.mark.parametrize("path", sorted(SYNC.glob("*.py")), ids=lambda p: p.name)
def test_sync_module_imports_no_web_or_queue(path: Path) -> None:
    bad = {name for name in _imports(path)
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{path.name} imports {sorted(bad)}"
