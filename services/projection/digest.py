"""The digest from the incremental tables, equal to `projections.digest.digest()` over the log.

The index and HHI now and then are two consolidation rows computed from the per-day totals
(`series_days`, plus changes still queued for the merge); each company's share comes from its
own effective records in `record_state`, streamed in company order. Memory holds one company's
records and the per-day totals, never the log: the weekly job costs the same at any history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.events.records import FeedRecord
from dealwatch.projections.day_totals import DayTotals, rows_from_totals
from dealwatch.projections.digest import CompanyDigest, Digest, assemble, company_digest
from dealwatch.services.db.state_models import RecordState, SeriesChange, SeriesDay
from dealwatch.services.projection.codec import decode

STREAM_ROWS = 2_000  # rows fetched at a time from the database's cursor


async def day_totals(session: AsyncSession) -> dict[dt.date, DayTotals]:
    """Per-day totals of every effective record: the merged ones and those still queued."""
    totals: dict[dt.date, DayTotals] = {}
    for table in (SeriesDay, SeriesChange):
        for day, text in await session.execute(select(table.date, table.totals)):
            totals.setdefault(day, DayTotals()).merge(DayTotals.from_json(text))
    return {day: t for day, t in totals.items() if not t.is_empty()}


async def records_by_company(
    session: AsyncSession, day: dt.date
) -> AsyncIterator[tuple[str, list[FeedRecord]]]:
    """Each company's effective records dated on or before `day`, one company at a time."""
    c = RecordState.__table__.c
    result = await session.stream(
        select(c.company, c.record)
        .where(c.record.is_not(None), c.date <= day)
        .order_by(c.company)
        .execution_options(yield_per=STREAM_ROWS)
    )
    company: str | None = None
    records: list[FeedRecord] = []
    async for slug, text in result:
        if slug != company:
            if company is not None:
                yield company, records
            company, records = slug, []
        records.append(decode(text))
    if company is not None:
        yield company, records


async def digest_from_tables(
    session: AsyncSession,
    roles: Mapping[str, str],
    day: dt.date,
    days: int = 30,
    window_days: int = 365,
) -> Digest:
    """The digest as of `day` over the last `days` days (what `digest()` gives on the log)."""
    since = day - dt.timedelta(days=days)
    totals = await day_totals(session)
    then_row, now_row = rows_from_totals(totals, roles, [since, day], window_days)
    companies: list[CompanyDigest] = []
    async for company, records in records_by_company(session, day):
        part = company_digest(company, records, roles, day, since)
        if part.status_change or part.absorptions or part.open_probes:
            companies.append(part)
    return assemble(day, since, now_row, then_row, companies)
