"""Contact activity: when each contact last wrote to us, per connection (the 24 h window).

The platform webhook receiver calls `record_inbound`; the window-aware send reads `last_inbound`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from connector.store.models import Base, utcnow


class ContactActivity(Base):
    __tablename__ = "contact_activity"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_inbound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


def _as_utc(at: datetime) -> datetime:
    """Aware UTC; a naive value is taken as UTC (SQLite hands back naive datetimes)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def record_inbound(session: Session, *, connection_id: str, phone_e164: str,
                   at: datetime) -> None:
    """Note an inbound message at `at`; an older `at` than the stored one changes nothing.

    One statement (INSERT .. ON CONFLICT DO UPDATE) so concurrent receivers never lose the
    newest time; SQLite's two-argument max() and PostgreSQL's GREATEST keep the maximum.
    """
    at = _as_utc(at)
    now = utcnow()
    table = ContactActivity.__table__
    stmt: Any
    values = {"connection_id": connection_id, "phone_e164": phone_e164,
              "last_inbound_at": at, "updated_at": now}
    if session.get_bind().dialect.name == "postgresql":
        stmt = pg_insert(table).values(**values)  # type: ignore[arg-type]
        newest = func.greatest(table.c.last_inbound_at, stmt.excluded.last_inbound_at)
    else:
        stmt = sqlite_insert(table).values(**values)  # type: ignore[arg-type]
        # SQLite stores these as fixed-format UTC text, so max() of the text is the latest time.
        newest = func.max(table.c.last_inbound_at, stmt.excluded.last_inbound_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.connection_id, table.c.phone_e164],
        set_={"last_inbound_at": newest, "updated_at": now},
    )
    session.execute(stmt)


def last_inbound(session: Session, connection_id: str, phone_e164: str) -> datetime | None:
    """The latest inbound time for this contact on this connection (aware UTC), or None."""
    at = session.scalar(select(ContactActivity.last_inbound_at).where(
        ContactActivity.connection_id == connection_id,
        ContactActivity.phone_e164 == phone_e164))
    return None if at is None else _as_utc(at)
