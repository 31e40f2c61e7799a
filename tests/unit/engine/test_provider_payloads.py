"""WBIZ and waapi push payloads -> trigger items (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.provider_payloads import parse_waapi, parse_wbiz, parser_for


def _ack(ack: int) -> dict[str, Any]:
    return {"event": "message_ack", "instanceId": "7", "data": {
        "message": {"id": {"_serialized": "true_491511@c.us_AB"}, "to": "4915112345678@c.us",
                    "timestamp": 1_763_700_000}, "ack": ack}}


@pytest.mark.parametrize(("ack", "status"), [
    pytest.param(-1, "failed", id="error"), pytest.param(1, "sent", id="server"),
    pytest.param(2, "delivered", id="device"), pytest.param(3, "read", id="read"),
    pytest.param(4, "read", id="played-implies-read"),
])
def test_waapi_ack_values_map_to_statuses(ack: int, status: str) -> None:
    parsed = parse_waapi(_ack(ack))
    assert [s.status for s in parsed.statuses] == [status]
    (_, item), = parsed.items["message_status_changed"]
    assert item["recipient"] == "+4915112345678"


def test_waapi_pending_ack_and_unknown_events_are_ignored() -> None:
    assert parse_waapi(_ack(0)).ignored == 1
    assert parse_waapi({"event": "call", "data": {}}).ignored == 1
    assert parse_waapi("not json").ignored == 1


def test_waapi_own_messages_are_not_inbound() -> None:
    payload = {"event": "message", "data": {"message": {"id": {"_serialized": "x"},
                                                         "from": "491511@c.us", "fromMe": True}}}
    assert parse_waapi(payload).items == {}


def test_waapi_disconnected_is_an_instance_item() -> None:
    parsed = parse_waapi({"event": "disconnected", "instanceId": "7",
                          "data": {"timestamp": 1_763_700_000}})
    (dedupe, item), = parsed.items["instance_status_changed"]
    assert item["status"] == "disconnected" and dedupe == "7:disconnected:1763700000"


def test_wbiz_events_page_and_single_webhook_parse_alike() -> None:
    event = {"id": "evt_1", "type": "message.received", "createdAt": "2026-11-21T10:44:50Z",
             "data": {"from": "+4915112345678", "text": "hi", "wamid": "wamid.A"}}
    page = parse_wbiz({"data": [event], "nextCursor": "evt_1"})
    single = parse_wbiz({**event, "event": event["type"]})
    assert page.items == single.items
    assert page.inbound[0][0] == "+4915112345678"


def test_wbiz_unknown_status_is_ignored() -> None:
    parsed = parse_wbiz({"type": "message.status", "data": {"wamid": "w", "status": "queued"}})
    assert parsed.ignored == 1 and parsed.statuses == []


def test_corbital_keeps_the_meta_parser() -> None:
    assert parser_for("corbital") is parser_for("corbital_v2") is parser_for("unknown")
