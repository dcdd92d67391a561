"""incremental projections: per-record and per-company state, per-day series totals

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:40:00

The state tables start empty; a worker (or `replay --db`) folds the mirrored events into them
once, before it consumes (services/projection/rebuild.py), when `state_format` is behind.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("target_id", sa.String(), nullable=True))
    events = sa.table(
        "events",
        sa.column("event_id", sa.String()),
        sa.column("payload", sa.Text()),
        sa.column("target_id", sa.String()),
    )
    bind = op.get_bind()
    for event_id, payload in bind.execute(sa.select(events.c.event_id, events.c.payload)).all():
        record = json.loads(payload)["record"]
        target = record.get("corrects") if record.get("kind") == "correction" else record["id"]
        bind.execute(events.update().where(events.c.event_id == event_id).values(target_id=target))
    op.create_index("ix_events_target_id", "events", ["target_id"])
    with op.batch_alter_table("projection_state") as batch:
        batch.add_column(
            sa.Column("state_format", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("series_version", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "record_state",
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("company", sa.String(), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("kind", sa.String(), nullable=True),
        sa.Column("record", sa.Text(), nullable=True),
        sa.Column("lineage", sa.Text(), nullable=False),
        sa.Column("retracted", sa.Boolean(), nullable=False),
        sa.Column("issues", sa.Text(), nullable=True),
        sa.Column("alert_key", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_index("ix_record_state_company", "record_state", ["company"])
    op.create_index("ix_record_state_date", "record_state", ["date"])
    op.create_index("ix_record_state_retracted", "record_state", ["retracted"])
    op.create_table(
        "company_state",
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("basis", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("slug"),
    )
    op.create_table(
        "series_days",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("date"),
    )
    op.create_table(
        "series_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "pending_checks",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )


def downgrade() -> None:
    for table in (
        "pending_checks",
        "series_changes",
        "series_days",
        "company_state",
        "record_state",
    ):
        op.drop_table(table)
    with op.batch_alter_table("projection_state") as batch:
        batch.drop_column("series_version")
        batch.drop_column("state_format")
    op.drop_index("ix_events_target_id", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("target_id")
