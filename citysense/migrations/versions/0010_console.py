"""Console: operator accounts, console sessions, device status in the registry, indexes for the queue

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sessions_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_sessions_api_key_id"), ["api_key_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_sessions_expires_at"), ["expires_at"], unique=False)
    # The node's latest status, kept in the registry for the console's device list.
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_version", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("status_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("queue_depth", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("battery_pct", sa.Float(), nullable=True))
    # The console's queue: newest first within a status, and the filter counts.
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_status_opened_at", ["status", "opened_at"], unique=False)
        batch_op.create_index("ix_tickets_opened_at", ["opened_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_opened_at")
        batch_op.drop_index("ix_tickets_status_opened_at")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        for column in ("battery_pct", "queue_depth", "status_at", "status_state", "agent_version"):
            batch_op.drop_column(column)
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_console_sessions_api_key_id"))
        batch_op.drop_index(batch_op.f("ix_console_sessions_user_id"))
    op.drop_table("console_sessions")
    op.drop_table("users")
