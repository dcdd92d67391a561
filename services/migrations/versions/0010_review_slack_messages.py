"""review items in Slack: where each item's message is, and the state it last showed

`dealwatch slack` posts each pending item to the review channel and updates the message when
the item is decided, in Slack or at the CLI: `slack_channel` and `slack_ts` locate it,
`slack_shown` is the state the message shows (an item decided at the CLI differs until the app
updates it). Silences record who set them (`silenced_by`), at the CLI or in Slack.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_items") as table:
        table.add_column(sa.Column("slack_channel", sa.String(), nullable=True))
        table.add_column(sa.Column("slack_ts", sa.String(), nullable=True))
        table.add_column(sa.Column("slack_shown", sa.String(), nullable=True))
    with op.batch_alter_table("alert_silences") as table:
        table.add_column(sa.Column("silenced_by", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_silences") as table:
        table.drop_column("silenced_by")
    with op.batch_alter_table("review_items") as table:
        table.drop_column("slack_shown")
        table.drop_column("slack_ts")
        table.drop_column("slack_channel")
