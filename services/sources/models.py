"""SQL tables of the source producers: each source's checkpoint and health, and the review
queue of items a machine cannot be sure about."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from dealwatch.sources.outcomes import Review


def _utc() -> Column:
    return Column(DateTime(timezone=True), nullable=True)


class SourceState(SQLModel, table=True):
    """One configured source: how far it got, and how it fares."""

    __tablename__ = "source_state"

    name: str = Field(primary_key=True)
    checkpoint: str | None = Field(default=None, sa_column=Column(Text))  # JSON, per source kind
    validators: str | None = Field(default=None, sa_column=Column(Text))  # JSON: url → ETag ...
    last_success: dt.datetime | None = Field(default=None, sa_column=_utc())
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: dt.datetime | None = Field(default=None, sa_column=_utc())
    consecutive_failures: int = 0
    emitted: int = 0
    queued: int = 0


class ReviewItem(SQLModel, table=True):
    """An item waiting for a person: `dealwatch review accept|reject`."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_state", "state"),)

    key: str = Field(primary_key=True)
    source: str
    kind: str
    reason: str = Field(sa_column=Column(Text, nullable=False))
    draft: str = Field(sa_column=Column(Text, nullable=False))  # JSON feed record draft
    context: str = Field(sa_column=Column(Text, nullable=False))  # JSON: title, names, link
    origin: str = Field(sa_column=Column(Text, nullable=False))
    state: str = "pending"  # pending, accepted, rejected
    queued_at: dt.datetime | None = Field(default=None, sa_column=_utc())
    decided_by: str | None = None
    decided_at: dt.datetime | None = Field(default=None, sa_column=_utc())
    decision: str | None = Field(default=None, sa_column=Column(Text))  # record id, or why
    slack_channel: str | None = None  # where `dealwatch slack` posted it
    slack_ts: str | None = None
    slack_shown: str | None = None  # the state its Slack message shows, or CHANGED


CHANGED = "changed"  # a pending item's draft changed (a sighting joined): its post is redrawn


def review_row(review: Review, source: str, state: str = "pending") -> dict:
    """A review item's row as queued (`state` "joined" for a sighting merged into another)."""
    return {
        "key": review.key,
        "source": source,
        "kind": review.kind,
        "reason": review.reason,
        "draft": json.dumps(review.draft, sort_keys=True),
        "context": json.dumps(review.context, sort_keys=True),
        "origin": review.origin,
        "state": state,
        "queued_at": dt.datetime.now(dt.UTC),
    }
