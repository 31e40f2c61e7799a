"""How a connection's platform webhook URL checks what the upstream pushes: the signature scheme
and the upstream's signing secret (encrypted like tokens). No row: pushes are accepted unsigned
(the secret URL token is the only credential, as for Corbital, reference §1.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connector.store.models import Base, utcnow


class PushSignature(Base):
    __tablename__ = "push_signatures"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(40))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # header, prefix, encoding...
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
