"""stale companies: company refreshes coalesced while a backlog is read

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stale_companies",
        sa.Column("slug", sa.String(), primary_key=True),
        sa.Column("partition", sa.Integer(), nullable=False),
    )
    op.create_index("ix_stale_companies_partition", "stale_companies", ["partition"])


def downgrade() -> None:
    op.drop_index("ix_stale_companies_partition", table_name="stale_companies")
    op.drop_table("stale_companies")
