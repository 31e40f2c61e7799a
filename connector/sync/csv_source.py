"""CSV: an uploaded file or a URL, read row by row (never whole), in pages.

A CSV has no modified time: every run reads every row and the content hash skips the unchanged
ones (crm-forms.md A3). A resumed run skips the rows its predecessor already wrote.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from connector.sync.source import Page, Record

PAGE_ROWS = 200


class CsvSource:
    def __init__(self, config: Mapping[str, Any], lines: Callable[[], Iterable[str]],
                 id_column: str) -> None:
        self.lines = lines
        self.delimiter = str(config.get("delimiter") or ",")
        self.id_column = id_column

    def window_end(self, now: datetime) -> str:
        return now.astimezone(UTC).isoformat()

    def pages(self, state: Mapping[str, Any], window_end: str) -> Iterator[Page]:
        skip = int(state.get("skip", 0))
        rows = csv.DictReader(self.lines(), delimiter=self.delimiter)
        batch: list[Record] = []
        done = 0
        for number, row in enumerate(rows, start=1):
            done = number
            if number <= skip:
                continue
            data = {k.strip(): (v or "") for k, v in row.items() if isinstance(k, str)}
            source_id = (data.get(self.id_column) or "").strip() or f"row:{number}"
            batch.append(Record(source_id, data))
            if len(batch) >= PAGE_ROWS:
                yield Page(batch, {"skip": done})
                batch = []
        yield Page(batch, {"skip": done})
        yield Page([], {})


def text_lines(content: str) -> Iterator[str]:
    """Lines of an uploaded file, without copying it."""
    start = 0
    while start < len(content):
        end = content.find("\n", start)
        end = len(content) if end < 0 else end + 1
        yield content[start:end]
        start = end
