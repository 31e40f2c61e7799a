"""WBIZ shapes <-> ours (pure)."""

from __future__ import annotations

import pytest

from connector.providers import wbiz_mapping as wm


@pytest.mark.parametrize("name", ["vip", "vip customers", "Ünïcode", "t:tricky", "a/b"])
def test_tag_ids_round_trip_and_are_valid_ids(name: str) -> None:
    tag_id = wm.tag_id(name)
    assert wm.tag_name(tag_id) == name or name.startswith("t:")
    assert wm._PLAIN_TAG.match(tag_id) or tag_id.startswith("t:")


@pytest.mark.parametrize(("name", "split"), [
    pytest.param("Ada", ("Ada", None), id="one-word"),
    pytest.param("Ada King Lovelace", ("Ada King", "Lovelace"), id="last-word-is-last-name"),
    pytest.param("  ", (None, None), id="blank"),
])
def test_split_name(name: str, split: tuple[str | None, str | None]) -> None:
    assert wm.split_name(name) == split


def test_a_partial_name_change_keeps_the_other_half() -> None:
    body = wm.contact_to_upstream({"last_name": "Byron"}, {"name": "Ada Lovelace"})
    assert body == {"name": "Ada Byron"}


def test_template_counts_come_from_placeholders() -> None:
    template = wm.template_from_upstream({
        "id": "tpl_1", "name": "order", "language": "en_US", "category": "UTILITY",
        "status": "approved", "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped."},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "u"}]}]})
    assert (template["status"], template["body_param_count"]) == ("APPROVED", 2)
    assert template["header"]["param_count"] == 1
    assert template["buttons"] == [{"type": "URL", "text": "Track", "url": "u"}]


def test_plan_limit_becomes_a_ten_second_window() -> None:
    assert wm.governor_limit(60) == (10, 10)
    assert wm.governor_limit(6000) == (1000, 10)
