"""Group commit: what the threads of one process bring at the same moment is written in one
transaction, so N concurrent requests cost one BEGIN/COMMIT (and one turn at SQLite's write
lock) instead of N.

The first thread to find the writer free writes every item waiting at that moment, its own
included; a thread whose item another thread wrote returns that result. The caller's `write`
sets `done` and `result` (a value, or the exception to raise in that item's thread) on each
item it handles; an item it leaves undone gets an error rather than a caller left waiting.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar


class Pending(Protocol):
    done: bool
    result: Any


P = TypeVar("P", bound=Pending)
W = TypeVar("W")


class GroupCommit(Generic[P]):
    def __init__(self, write: Callable[[list[P]], None], max_batch: int) -> None:
        self._write = write
        self.max_batch = max_batch
        self._guard = threading.Lock()  # protects `_pending`
        self._writer = threading.Lock()  # one batch at a time in this process
        self._pending: list[P] = []

    @property
    def waiting(self) -> int:
        """Items submitted and not yet taken into a batch."""
        return len(self._pending)

    def submit(self, item: P) -> Any:
        """Write `item` (with whatever else is waiting); its result, or raise its error."""
        with self._guard:
            self._pending.append(item)
        while not item.done:
            with self._writer:
                if item.done:
                    break
                with self._guard:
                    batch = self._pending[:self.max_batch]
                    self._pending = self._pending[self.max_batch:]
                self._write_batch(batch)
        if isinstance(item.result, BaseException):
            raise item.result
        return item.result

    def _write_batch(self, batch: list[P]) -> None:
        try:
            self._write(batch)
        except BaseException as error:
            for item in batch:
                if not item.done:
                    item.result, item.done = error, True
        finally:
            for item in batch:
                if not item.done:  # a `write` bug; never leave a caller waiting
                    item.result, item.done = RuntimeError("the item was not written"), True


_writers: weakref.WeakKeyDictionary[Any, dict[Callable[[Any], Any], Any]] = \
    weakref.WeakKeyDictionary()
_writers_guard = threading.Lock()


def writer_for(owner: Any, kind: Callable[[Any], W]) -> W:
    """The one `kind(owner)` of this process (per runtime): its threads must share a writer
    for their items to share transactions."""
    with _writers_guard:
        by_kind = _writers.setdefault(owner, {})
        if kind not in by_kind:
            by_kind[kind] = kind(owner)
        writer: W = by_kind[kind]
        return writer
