"""stale company tokens: each queueing of a company writes a new token

A refresh reads the queued companies and their records without a lock, computes, and writes
only those whose token is unchanged when it commits (services/projection/stale.py): a batch
that changed a company meanwhile queued it again under a new token, or refreshed it itself
and removed the entry. SQLite's one write lock is then held for the writes alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stale_companies") as table:
        table.add_column(
            sa.Column("token", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("stale_companies") as table:
        table.drop_column("token")
