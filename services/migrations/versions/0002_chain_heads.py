"""chain heads: the running hash chain of each log partition, stored with its position

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stream_positions") as batch:
        batch.add_column(sa.Column("chain_head", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stream_positions") as batch:
        batch.drop_column("chain_head")
