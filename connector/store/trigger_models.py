"""Trigger tables: poll state, trigger items, REST hooks and their deliveries, platform hook
tokens and message delivery statuses (issue 3).

Items and the poll cursor move in one transaction; deliveries are written in that same
transaction (outbox), so an item is never recorded without its deliveries or twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.store.models import Base, utcnow


class TriggerState(Base):
    """Where the poll of one (connection, trigger) stands. `version` fences concurrent polls."""

    __tablename__ = "trigger_states"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    trigger_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)
    poll_count: Mapped[int] = mapped_column(Integer, default=0)
    last_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_poll: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_gap: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    feed_read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TriggerItem(Base):
    __tablename__ = "trigger_items"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    trigger_key: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(100))
    dedupe_value: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("connection_id", "trigger_key", "dedupe_value",
                         name="uq_trigger_items_dedupe"),
        Index("ix_trigger_items_feed", "connection_id", "trigger_key", "id"),
    )


class Hook(Base):
    """A REST-hook subscription. `status`: active, disabled (with a reason) or deleted."""

    __tablename__ = "hooks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    trigger_key: Mapped[str] = mapped_column(String(64))
    target_url: Mapped[str] = mapped_column(Text)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    interval_s: Mapped[int] = mapped_column(Integer, default=60)
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_detail: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    __table_args__ = (Index("ix_hooks_connection_trigger", "connection_id", "trigger_key"),)


class HookDelivery(Base):
    """One item to one hook. `status`: pending, delivering, succeeded, failed."""

    __tablename__ = "hook_deliveries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hook_id: Mapped[str] = mapped_column(ForeignKey("hooks.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(ForeignKey("trigger_items.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[list[Any]] = mapped_column(default=list)
    job_id: Mapped[str | None] = mapped_column(String(80))
    worker_id: Mapped[str | None] = mapped_column(String(80))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("hook_id", "item_id", name="uq_hook_deliveries_item"),
        Index("ix_hook_deliveries_hook_status", "hook_id", "status", "item_id"),
        Index("ix_hook_deliveries_status", "status"),
    )


class PlatformEndpoint(Base):
    """The secret `/hooks/platform/{token}` URL of a connection; only the token's hash is kept."""

    __tablename__ = "platform_endpoints"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MessageDelivery(Base):
    """What WhatsApp reported for one sent message: final status by rank, and its history."""

    __tablename__ = "message_deliveries"
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    history: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
