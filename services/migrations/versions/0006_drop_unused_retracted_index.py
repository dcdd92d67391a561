"""record_state: drop the index on `retracted`, which no query filters on

Every folded record paid one more B-tree insert for it (a boolean: nothing to select by).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_record_state_retracted", table_name="record_state")


def downgrade() -> None:
    op.create_index("ix_record_state_retracted", "record_state", ["retracted"])
