"""REST-hook filters: `{field: value or [values]}` over an item's data, all must match."""

import pytest

from connector.store.trigger_items import matches, sequential_ids


@pytest.mark.parametrize("filter_, data, expected", [
    pytest.param(None, {"status": "read"}, True, id="no-filter"),
    pytest.param({"status": "failed"}, {"status": "failed"}, True, id="equal"),
    pytest.param({"status": "failed"}, {"status": "read"}, False, id="different"),
    pytest.param({"status": ["read", "failed"]}, {"status": "read"}, True, id="one-of"),
    pytest.param({"status": "read", "error_code": None}, {"status": "read"}, True,
                 id="missing-is-null"),
    pytest.param({"type": "lead"}, {}, False, id="missing-field"),
])
def test_matches(filter_, data, expected):
    assert matches(filter_, data) is expected


def test_sequential_ids_sort_in_the_order_given():
    ids = sequential_ids("tri", 2000)
    assert ids == sorted(ids) and len(set(ids)) == 2000
    assert all(i.startswith("tri_") and i.replace("_", "").isalnum() for i in ids)
