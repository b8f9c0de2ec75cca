"""Anomaly tickets: residents see them once confirmed; operators' false-alarm marks

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        "false_alarms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.String(length=32), nullable=False),
        sa.Column("deviation", sa.Float(), nullable=False),
        sa.Column("marked_by", sa.String(length=160), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("false_alarms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_false_alarms_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("false_alarms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_false_alarms_ticket_id"))
    op.drop_table("false_alarms")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("public")
