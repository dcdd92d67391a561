"""The incremental projection's own state: what each record and company stands at, the
per-day totals of the series, and the work still to do. Internal tables, not the SQL surface
users query (services/db/models.py); docs/incremental.md says how they are used."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

STATE_FORMAT = 1
"""The state tables' format; a database whose `projection_state.state_format` is behind (one
from before incremental projections) is folded again from its mirror by the projector."""


class RecordState(SQLModel, table=True):
    """One record id: its effective record (JSON) or why it has none, and its lineage."""

    __tablename__ = "record_state"
    __table_args__ = (
        Index("ix_record_state_company", "company"),
        Index("ix_record_state_date", "date"),
    )

    record_id: str = Field(primary_key=True)
    company: str | None = None
    date: dt.date | None = None
    kind: str | None = None
    record: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    lineage: str = Field(sa_column=Column(Text, nullable=False))
    retracted: bool = False
    issues: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    alert_key: str | None = None  # the record-rule alert last recorded for it


class CompanyState(SQLModel, table=True):
    """One company's status and the records that decided it (for runway alerts)."""

    __tablename__ = "company_state"

    slug: str = Field(primary_key=True)
    status: str
    basis: str = "[]"


class SeriesDay(SQLModel, table=True):
    """What one day's effective records add to the series (projections/day_totals.py)."""

    __tablename__ = "series_days"

    date: dt.date = Field(primary_key=True)
    totals: str = Field(sa_column=Column(Text, nullable=False))


class SeriesChange(SQLModel, table=True):
    """A signed change to one day's totals, queued by a worker for the series merge."""

    __tablename__ = "series_changes"

    seq: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    date: dt.date
    totals: str = Field(sa_column=Column(Text, nullable=False))


class PendingCheck(SQLModel, table=True):
    """Work left for the alert pass: a record or company whose alerts to (re)derive."""

    __tablename__ = "pending_checks"

    kind: str = Field(primary_key=True)
    key: str = Field(primary_key=True)


class StaleCompany(SQLModel, table=True):
    """A company whose records changed in a batch read from a backlog: refreshed once the
    worker owning `partition` catches up (or now and then), not after every batch."""

    __tablename__ = "stale_companies"
    __table_args__ = (Index("ix_stale_companies_partition", "partition"),)

    slug: str = Field(primary_key=True)
    partition: int
    token: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    """Written anew each time the company is queued: a refresh that read it writes the
    company only if the token is unchanged when it commits (projection/stale.py)."""


class FoldLock(SQLModel, table=True):
    """One row per target record, locked (never updated) by the transaction folding it on
    PostgreSQL: a row lock lives in the row itself, so a fold of 10,000 targets holds 10,000
    locks without PostgreSQL's shared lock table, and two folds wait only on common targets."""

    __tablename__ = "fold_locks"

    target: str = Field(primary_key=True)
