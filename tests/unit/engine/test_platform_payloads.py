"""Parsing what the platform pushes: forwarded Meta payloads and model webhooks."""

from __future__ import annotations

import random

import pytest

from connector.config import Settings
from connector.engine.delivery import retry_delay
from connector.engine.platform_payloads import parse, rank

WAMID = "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjQ1QkE2RjNDMkE5RTdGMDgxAA=="


def meta(value: dict[str, object]) -> dict[str, object]:
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}


def test_an_inbound_text_message_becomes_an_item_and_an_inbound_time() -> None:
    parsed = parse(meta({
        "contacts": [{"profile": {"name": "Amara"}, "wa_id": "4915112345678"}],
        "messages": [{"from": "4915112345678", "id": WAMID, "timestamp": "1763700000",
                      "type": "text", "text": {"body": "hello"}}]}))
    [(dedupe, item)] = parsed.items["inbound_message"]
    assert dedupe == WAMID
    assert (item["from"], item["name"], item["text"]) == ("+4915112345678", "Amara", "hello")
    assert parsed.inbound[0][0] == "+4915112345678"


def test_a_failed_status_carries_its_error_code() -> None:
    parsed = parse(meta({"statuses": [{
        "id": WAMID, "status": "failed", "timestamp": "1763700000", "recipient_id": "4915112345678",
        "errors": [{"code": 131047, "title": "Re-engagement message"}]}]}))
    [event] = parsed.statuses
    assert (event.status, event.error["code"], event.dedupe) == (  # type: ignore[index]
        "failed", 131047, f"{WAMID}:failed")
    item = parsed.items["message_status_changed"][0][1]
    assert item["error_code"] == 131047 and item["recipient"] == "+4915112345678"


@pytest.mark.parametrize("event, key", [
    ("created", "contact_created"), ("contact.updated", "contact_updated_push"),
    ("eloquent.deleted", "contact_deleted")])
def test_contact_model_webhooks_map_to_their_trigger(event: str, key: str) -> None:
    parsed = parse({"event": event, "model": "App\\Models\\Tenant\\Contact",
                    "data": {"id": 7, "attributes": {"id": 7, "firstname": "Ada",
                                                     "phone": "+4915112345678"}}})
    [(dedupe, item)] = parsed.items[key]
    assert dedupe.startswith("7:") and item["first_name"] == "Ada" and item["id"] == "7"


@pytest.mark.parametrize("payload", [
    None, [], {"hello": 1}, {"event": "created", "model": "App\\Models\\Tenant\\Status",
                             "data": {"id": 1}},
    meta({"statuses": [{"id": WAMID, "status": "played"}]})])
def test_anything_else_is_ignored_not_an_error(payload: object) -> None:
    parsed = parse(payload)
    assert parsed.items == {} and parsed.ignored == 1


def test_status_rank_puts_failed_over_read_over_delivered_over_sent() -> None:
    assert rank("failed") > rank("read") > rank("delivered") > rank("sent") > rank("played")


def test_retry_delays_grow_with_jitter_and_span_about_a_day() -> None:
    class Rt:
        settings = Settings()

    rng = random.Random(7)
    delays = [retry_delay(n, Rt(), rng) for n in range(Settings().hook_max_attempts - 1)]  # type: ignore[arg-type]
    for n, delay in enumerate(delays):
        step = min(21600.0, 5.0 * 2 ** n)
        assert step / 2 <= delay <= step
    assert 11 * 3600 <= sum(delays) <= 30 * 3600
