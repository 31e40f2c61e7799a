"""Keep the garbage collector off what a process builds at start-up.

The catalog (every definition and its compiled JSON Schemas), SQLAlchemy's metadata, Flask and
the providers are a few hundred thousand long-lived objects. Python's full (generation 2)
collection walks all of them: 70-75 ms with the GIL held, measured in a gunicorn worker of the
API, stalling every request in flight (it was the p99 of the form intake, BENCHMARKS.md). After
`gc.freeze()` the collector ignores them, and a full collection only walks what was allocated
since. Called once a process is ready to serve, never from library code or tests: whatever is
alive then is never collected.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    gc.collect()  # what start-up left as garbage goes first, not into the frozen set
    gc.freeze()
