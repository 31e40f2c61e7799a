"""Contact activity: the newest inbound time wins, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from connector.store.activity import last_inbound, record_inbound


def test_record_inbound_keeps_the_latest_time(rt: Any, connection: dict[str, Any]) -> None:
    conn_id = connection["id"]
    newer = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
    older = newer - timedelta(hours=3)
    with rt.db.session() as session:
        assert last_inbound(session, conn_id, "+14155550100") is None
        record_inbound(session, connection_id=conn_id, phone_e164="+14155550100", at=older)
    with rt.db.session() as session:
        # the same instant expressed in another offset is still the same instant
        record_inbound(session, connection_id=conn_id, phone_e164="+14155550100",
                       at=newer.astimezone(timezone(timedelta(hours=5))))
    with rt.db.session() as session:
        record_inbound(session, connection_id=conn_id, phone_e164="+14155550100", at=older)
    with rt.db.session() as session:
        assert last_inbound(session, conn_id, "+14155550100") == newer
        assert last_inbound(session, conn_id, "+14155550199") is None
