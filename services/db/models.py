"""The SQL surface (spec §6): stable table and column names users query."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, DateTime, Index, String, Text
from sqlmodel import Field, SQLModel


def _utc(nullable: bool = True) -> Column:
    """A timestamp column that stores UTC instants (aware datetimes) on both databases."""
    return Column(DateTime(timezone=True), nullable=nullable)


class Event(SQLModel, table=True):
    """A queryable mirror of the log, one row per event id (its first position in the log)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_target_id", "target_id"),)

    event_id: str = Field(primary_key=True)
    record_id: str
    target_id: str | None = None  # the record the event concerns (a correction's target)
    kind: str
    date: dt.date | None = None
    reported: dt.date | None = None
    company: str | None = None
    topic: str
    partition: int
    offset: int = Field(sa_column=Column("offset", BigInteger, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))


class Consolidation(SQLModel, table=True):
    """The consolidation series (spec §3), one row per event date plus the evaluation day."""

    __tablename__ = "consolidation"

    as_of: dt.date = Field(primary_key=True)
    window_days: int = Field(primary_key=True)
    idx: float
    hhi: int
    incumbent_capital_usd: float
    total_capital_usd: float
    absorptions: int


class ConsolidationByIncumbent(SQLModel, table=True):
    """Capital attributed to each incumbent in the window ending `as_of`."""

    __tablename__ = "consolidation_by_incumbent"

    as_of: dt.date = Field(primary_key=True)
    incumbent: str = Field(primary_key=True)
    capital_usd: float


class Watchlist(SQLModel, table=True):
    """Every company with a status other than `unknown` on the evaluation day (spec §4)."""

    __tablename__ = "watchlist"

    company: str = Field(primary_key=True)
    status: str
    monthly_burn_usd: float | None = None
    cash_usd: float | None = None
    runway_months: float | None = None
    as_of: dt.date


class RegistryEntry(SQLModel, table=True):
    """The company registry as read from the compacted `companies` topic."""

    __tablename__ = "registry"

    slug: str = Field(primary_key=True)
    name: str
    role: str
    country: str | None = None


class Company(SQLModel, table=True):
    """The registry joined with what the log says about each company."""

    __tablename__ = "companies"

    slug: str = Field(primary_key=True)
    name: str | None = None
    role: str | None = None
    country: str | None = None
    total_raised_usd: float = 0.0
    last_valuation_usd: float | None = None
    status: str = "unknown"
    absorbed_by: str | None = None


class Deal(SQLModel, table=True):
    """The deal ledger: every effective funding, licensing and acquisition record."""

    __tablename__ = "deals"

    record_id: str = Field(primary_key=True)
    kind: str
    date: dt.date
    company: str
    counterparties: str
    amount_usd: float | None = None
    reverse_acquihire: bool = False
    source: str | None = None


class Alert(SQLModel, table=True):
    """The alert outbox (spec §6): recorded with the projection change, delivered once."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_state", "delivery_state"),)

    alert_key: str = Field(primary_key=True)
    rule: str
    subject: str
    as_of: dt.date
    fired_at: dt.datetime = Field(sa_column=_utc(False))
    lineage: str
    message: str = Field(sa_column=Column(Text, nullable=False))
    channel: str
    delivery_state: str = "pending"
    attempts: int = 0
    delivered_at: dt.datetime | None = Field(default=None, sa_column=_utc())
    last_error: str | None = None


class Silence(SQLModel, table=True):
    """Alerts of `rule` (and `subject`, if given) are not delivered until `until`."""

    __tablename__ = "alert_silences"

    rule: str = Field(primary_key=True)
    subject: str = Field(primary_key=True, default="*")
    until: dt.datetime = Field(sa_column=_utc(False))
    silenced_by: str | None = None  # who: a user name, or a Slack user


class StreamPosition(SQLModel, table=True):
    """The next offset to read per topic partition, written with the rows it covers, and
    (for `deal-events`) the hash chain head over every message before it (events/chain.py);
    NULL when the worker did not see the partition from its first offset."""

    __tablename__ = "stream_positions"

    topic: str = Field(primary_key=True)
    partition: int = Field(primary_key=True)
    next_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    chain_head: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class ProjectionState(SQLModel, table=True):
    """One row: how far the projections are, so a worker knows when to recompute."""

    __tablename__ = "projection_state"

    id: int = Field(default=1, primary_key=True)
    log_version: int = 0
    projected_version: int = -1
    alerts_version: int = -1
    evaluation_day: dt.date | None = None
    window_days: int | None = None
    projected_at: dt.datetime | None = Field(default=None, sa_column=_utc())
    digest: str | None = None
    projection_id: str | None = None
    state_format: int = 0  # the incremental state's format; behind = fold the mirror again
    series_version: int = 0  # bumped by each series merge, so other mergers reload


class ProjectionIssue(SQLModel, table=True):
    """What the effective view ignored (corrections of unknown or retracted records, ...)."""

    __tablename__ = "projection_issues"

    seq: int = Field(primary_key=True)
    message: str
