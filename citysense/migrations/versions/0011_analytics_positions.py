"""Analytics: per-device processed positions, for takeover between analytics processes

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_positions",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )


def downgrade() -> None:
    op.drop_table("analytics_positions")
