"""Company refreshes coalesced while a backlog is read.

A company with ten records in a backlog would otherwise be refreshed ten times, each time
from all its records. A batch read from a backlog queues its companies here instead; the
worker that owns the partition they came from refreshes each once, when it has caught up
(and now and then while it reads). A batch at the live edge refreshes its companies at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.db.bulk import is_postgresql
from services.db.engine import session_factory
from services.db.keyed import among
from services.db.log_mirror import insert_or_lock
from services.db.state_models import StaleCompany
from services.projection.companies import refresh_companies
from services.projection.evaluation import evaluation_day
from services.projection.records import chunks

REFRESH_CHUNK = 2_000  # companies per refresh transaction: live batches interleave
ANY_WORKER = -1
"""The partition of companies queued by a new evaluation day: every company moves with the
calendar, whoever owns it; any worker may take them."""


async def queue_stale(session: AsyncSession, companies: Mapping[str, int]) -> None:
    """Queue companies for a refresh by the owner of the partition each is mapped to.

    On PostgreSQL a company queued already has its row locked until this transaction ends
    (`insert_or_lock`): a refresh taking it meanwhile would read the company without this
    transaction's records and delete the entry, and the company would stay stale (seen at 1M:
    `replay --verify` found companies behind their records)."""
    rows = [{"slug": slug, "partition": p} for slug, p in sorted(companies.items())]
    await insert_or_lock(session, StaleCompany, rows, ["slug"])


async def queue_all(session: AsyncSession, slugs: Collection[str]) -> None:
    """Queue every company in `slugs` (those queued already keep their partition)."""
    for part in chunks(sorted(slugs), 5_000):
        await queue_stale(session, dict.fromkeys(part, ANY_WORKER))


async def forget_stale(session: AsyncSession, slugs: Collection[str]) -> None:
    """Drop the queue entries of companies just refreshed in this transaction."""
    for part in chunks(sorted(slugs)):
        await session.execute(delete(StaleCompany).where(among(session, StaleCompany.slug, part)))


async def take_stale(
    session: AsyncSession, partitions: Collection[int] | None, limit: int
) -> list[str]:
    """Remove up to `limit` queued companies of `partitions` (all when None) and return them.
    Removed before the refresh reads: a batch that changes one meanwhile queues it again.
    PostgreSQL: rows another worker is taking are skipped."""
    query = select(StaleCompany.slug).order_by(StaleCompany.slug).limit(limit)
    if partitions is not None:
        query = query.where(StaleCompany.partition.in_([ANY_WORKER, *sorted(partitions)]))
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    slugs = list((await session.execute(query)).scalars())
    await forget_stale(session, slugs)
    return slugs


async def refresh_stale(
    engine: AsyncEngine,
    today: dt.date,
    partitions: Collection[int] | None = None,
    limit: int = REFRESH_CHUNK,
) -> int:
    """Refresh every queued company of `partitions`, a chunk per transaction; how many."""
    done = 0
    while True:
        async with session_factory(engine)() as session, session.begin():
            day = await evaluation_day(session, today)
            slugs = await take_stale(session, partitions, limit)
            await refresh_companies(session, set(slugs), day)
        done += len(slugs)
        if len(slugs) < limit:
            return done


async def stale_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(StaleCompany)) or 0
