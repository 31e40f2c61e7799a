"""Workflow models: definitions, the events that start them (form submissions, trigger items,
schedule ticks) and workflow runs, whose steps are ordinary `runs` rows (one per step)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.store.models import Base, utcnow


class Workflow(Base):
    __tablename__ = "workflows"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    name: Mapped[str] = mapped_column(String(200))
    trigger_kind: Mapped[str] = mapped_column(String(20))
    trigger_key: Mapped[str | None] = mapped_column(String(100))
    # The definition as saved, with the verify secret taken out (it lives encrypted below).
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # The hook URL's token: its SHA-256 finds the workflow, the encrypted copy shows the URL.
    hook_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    hook_token_encrypted: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class WorkflowEvent(Base):
    """One submission / item / tick. The raw body is encrypted and purged after retention."""

    __tablename__ = "workflow_events"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))
    workspace_id: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))  # form | trigger_item | schedule
    dedupe_key: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(200))
    body_encrypted: Mapped[str | None] = mapped_column(Text)
    body_bytes: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    last_run_id: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("workflow_id", "dedupe_key", name="uq_workflow_events_dedupe"),
        Index("ix_workflow_events_workflow_id_id", "workflow_id", "id"),
        Index("ix_workflow_events_expires_at", "expires_at"),
    )


class WorkflowRun(Base):
    """One execution of a workflow. `steps` holds a record per step; `run_id` in a record is
    the step's child row in `runs` (executed by the ordinary runner)."""

    __tablename__ = "workflow_runs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))
    workspace_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str | None] = mapped_column(String(40))
    # queued | running | succeeded | failed | in_doubt
    status: Mapped[str] = mapped_column(String(20), default="queued")
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    trigger_encrypted: Mapped[str | None] = mapped_column(Text)
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    __table_args__ = (
        Index("ix_workflow_runs_workflow_id_id", "workflow_id", "id"),
        Index("ix_workflow_runs_status", "status"),
    )
