"""fold locks: a lock row per target record, in place of hash-bucketed advisory locks

Advisory locks live in PostgreSQL's shared lock table; one per target ran it out with two
workers' group-committed transactions, and 1,024 buckets made any two backlog transactions
share one and fold in turns. Row locks live in the rows (`services/projection/records.py`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("fold_locks", sa.Column("target", sa.String(), primary_key=True))


def downgrade() -> None:
    op.drop_table("fold_locks")
