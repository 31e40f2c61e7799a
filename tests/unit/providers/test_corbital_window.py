"""The 24 h window decision: text only while the window stays open for the margin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.providers.corbital_window import choose_path

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MARGIN = timedelta(minutes=30)

CASES = [
    pytest.param(timedelta(hours=2), True, "text", id="2h"),
    pytest.param(timedelta(hours=30), True, "template", id="30h"),
    pytest.param(timedelta(hours=23, minutes=29), True, "text", id="31-min-left"),
    pytest.param(timedelta(hours=23, minutes=31), True, "template", id="29-min-left"),
    pytest.param(None, True, "template", id="never"),
    pytest.param(timedelta(hours=1), False, "template", id="no-text"),
]


@pytest.mark.parametrize("age, has_text, kind", CASES)
def test_choose_path(age: timedelta | None, has_text: bool, kind: str) -> None:
    last = None if age is None else NOW - age
    path = choose_path(last, NOW, MARGIN, has_text)
    assert path.kind == kind and path.reason
