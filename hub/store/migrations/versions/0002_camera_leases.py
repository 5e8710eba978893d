"""Camera leases move from Redis into the store: one row per camera with its node, the epoch of
the grant (a fencing token) and when the lease ends on the database's clock.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_leases",
        sa.Column("camera", sa.String(length=160), nullable=False),
        sa.Column("node", sa.String(length=160), nullable=True),
        sa.Column("epoch", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("camera"),
    )


def downgrade() -> None:
    op.drop_table("camera_leases")
