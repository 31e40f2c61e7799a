"""triggers: poll state, trigger items, REST hooks and deliveries, platform endpoints, message
delivery statuses; runs.delivery

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "trigger_states",
        sa.Column("connection_id", sa.String(40), sa.ForeignKey("connections.id"), nullable=False),
        sa.Column("trigger_key", sa.String(64), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("poll_count", sa.Integer(), nullable=False),
        _ts("last_poll_at", True),
        sa.Column("last_poll", sa.JSON(), nullable=True),
        sa.Column("last_gap", sa.JSON(), nullable=True),
        _ts("feed_read_at", True),
        sa.PrimaryKeyConstraint("connection_id", "trigger_key"),
    )
    op.create_table(
        "trigger_items",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("connection_id", sa.String(40), sa.ForeignKey("connections.id"), nullable=False),
        sa.Column("trigger_key", sa.String(64), nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("dedupe_value", sa.String(255), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "trigger_key", "dedupe_value",
                            name="uq_trigger_items_dedupe"),
    )
    op.create_index("ix_trigger_items_feed", "trigger_items",
                    ["connection_id", "trigger_key", "id"])
    op.create_table(
        "hooks",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("connection_id", sa.String(40), sa.ForeignKey("connections.id"), nullable=False),
        sa.Column("trigger_key", sa.String(64), nullable=False),
        sa.Column("target_url", sa.Text(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=True),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hooks_workspace_id", "hooks", ["workspace_id"])
    op.create_index("ix_hooks_connection_trigger", "hooks", ["connection_id", "trigger_key"])
    op.create_table(
        "hook_deliveries",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("hook_id", sa.String(40), sa.ForeignKey("hooks.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("item_id", sa.String(40),
                  sa.ForeignKey("trigger_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.String(80), nullable=True),
        sa.Column("worker_id", sa.String(80), nullable=True),
        _ts("next_attempt_at", True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hook_id", "item_id", name="uq_hook_deliveries_item"),
    )
    op.create_index("ix_hook_deliveries_hook_status", "hook_deliveries",
                    ["hook_id", "status", "item_id"])
    op.create_index("ix_hook_deliveries_status", "hook_deliveries", ["status"])
    op.create_table(
        "platform_endpoints",
        sa.Column("connection_id", sa.String(40), sa.ForeignKey("connections.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("connection_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "message_deliveries",
        sa.Column("connection_id", sa.String(40), sa.ForeignKey("connections.id"), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("connection_id", "message_id"),
    )
    op.create_index("ix_message_deliveries_run_id", "message_deliveries", ["run_id"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("delivery", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("delivery")
    op.drop_table("message_deliveries")
    op.drop_table("platform_endpoints")
    op.drop_table("hook_deliveries")
    op.drop_table("hooks")
    op.drop_index("ix_trigger_items_feed", table_name="trigger_items")
    op.drop_table("trigger_items")
    op.drop_table("trigger_states")
