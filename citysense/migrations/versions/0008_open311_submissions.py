"""Open311: accepted resident reports, for the per-address throttle and merging near-identical ones

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open311_submissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("address_id", sa.String(length=120), nullable=True),
        sa.Column("merged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("open311_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_open311_submissions_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_open311_submissions_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_open311_submissions_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("open311_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_open311_submissions_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_open311_submissions_address"))
        batch_op.drop_index(batch_op.f("ix_open311_submissions_at"))
    op.drop_table("open311_submissions")
