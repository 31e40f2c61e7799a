"""The one interface every source adapter implements, and the values it yields.

A source reads records page by page, oldest change first, and hands each page with the state
that holds once the page's writes succeeded. The runner saves that state only then (Singer's
rule: early enough to resume, never ahead of the writes), so a run killed mid-page re-reads it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from connector.engine.outcome import OutcomeKind

DEFAULT_LOOKBACK_S = 300
"""Re-read window before the saved cursor: clock skew and search-index lag (crm-forms.md A4)."""


@dataclass(frozen=True)
class Record:
    """One source record: a stable id and the raw data the mapping reads from."""

    source_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Page:
    records: list[Record]
    # The source's position once this page is written: `{"cursor", "tiebreak"}` or `{"skip"}`.
    state: dict[str, Any] = field(default_factory=dict)
    total: int | None = None


class SourceError(Exception):
    """The source can't be read (after the retries it deserves); `kind` classifies why."""

    def __init__(self, kind: OutcomeKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Source(Protocol):
    def window_end(self, now: datetime) -> str:
        """The upper bound of a run started at `now`, in the form `pages` expects."""
        ...

    def pages(self, state: Mapping[str, Any], window_end: str) -> Iterator[Page]:
        """Pages after `state`, up to `window_end`; the last page's state completes the run."""
        ...
