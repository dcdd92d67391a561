"""events: drop the indexes on `company`, `date` and `record_id`, which no query uses

The mirror is read by event id (its primary key), by target record (`ix_events_target_id`,
the fold) and by partition and offset (audits); the three others cost every mirrored event
three more B-tree inserts and their pages at each commit. Per-company and per-date questions
are answered from `record_state` (the effective records), indexed on both.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DROPPED = {
    "ix_events_company": "company",
    "ix_events_date": "date",
    "ix_events_record_id": "record_id",
}


def upgrade() -> None:
    for name in DROPPED:
        op.drop_index(name, table_name="events")


def downgrade() -> None:
    for name, column in DROPPED.items():
        op.create_index(name, "events", [column])
