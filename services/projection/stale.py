"""Company refreshes coalesced while a backlog is read.

A company with ten records in a backlog would otherwise be refreshed ten times, each time
from all its records. A batch read from a backlog queues its companies here instead; the
worker that owns the partition they came from refreshes each once, when it has caught up
(and now and then while it reads). A batch at the live edge refreshes its companies at once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection, Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.db.bulk import bulk_insert, execute_bulk, is_postgresql
from services.db.engine import session_factory
from services.db.keyed import among
from services.db.state_models import StaleCompany
from services.projection.companies import company_rows, dequeue, read_inputs, write_rows
from services.projection.evaluation import current_day, evaluation_day
from services.projection.records import chunks

REFRESH_CHUNK = 2_000  # companies per refresh transaction: live batches interleave
ANY_WORKER = -1
"""The partition of companies queued by a new evaluation day: every company moves with the
calendar, whoever owns it; any worker may take them."""


async def queue_stale(session: AsyncSession, companies: Mapping[str, int]) -> None:
    """Queue companies for a refresh by the owner of the partition each is mapped to, each
    under a new token (one queued already keeps its partition).

    The token is how a refresh that read a company before this transaction commits knows
    not to write it (`refresh_stale`). On PostgreSQL the queued rows also stay locked until
    this transaction ends: a refresh confirming one waits, then sees the new token."""
    if not companies:
        return
    token = secrets.randbits(62)
    rows = [{"slug": slug, "partition": p, "token": token} for slug, p in sorted(companies.items())]
    stmt, params = bulk_insert(session, StaleCompany, rows, ["slug"])
    await execute_bulk(
        session,
        stmt.on_conflict_do_update(index_elements=["slug"], set_={"token": stmt.excluded.token}),
        params,
    )


async def queue_all(session: AsyncSession, slugs: Collection[str]) -> None:
    """Queue every company in `slugs` (those queued already keep their partition)."""
    for part in chunks(sorted(slugs), 5_000):
        await queue_stale(session, dict.fromkeys(part, ANY_WORKER))


async def peek_stale(
    session: AsyncSession, partitions: Collection[int] | None, limit: int
) -> dict[str, int]:
    """Up to `limit` queued companies of `partitions` (all when None), in slug order, with
    their tokens; nothing is removed or locked."""
    t = StaleCompany.__table__.c
    query = select(t.slug, t.token).order_by(t.slug).limit(limit)
    if partitions is not None:
        query = query.where(t.partition.in_([ANY_WORKER, *sorted(partitions)]))
    return {slug: token for slug, token in await session.execute(query)}


async def take_unchanged(session: AsyncSession, peeked: Mapping[str, int]) -> set[str]:
    """Of the companies `peek_stale` returned, remove from the queue those still queued under
    the same token, and return them: no batch changed them since they were read. (A batch
    that did queued them again under a new token, or refreshed them and removed the entry;
    they stay for the next refresh.) In a write transaction: on SQLite one has the write lock
    already; on PostgreSQL the rows are locked here, after any batch holding them commits."""
    if not peeked:
        return set()
    t = StaleCompany.__table__.c
    query = select(t.slug, t.token).where(among(session, t.slug, sorted(peeked)))
    if is_postgresql(session):
        query = query.order_by(t.slug).with_for_update()  # in slug order, as batches lock
    held = {slug: token for slug, token in await session.execute(query)}
    unchanged = {slug for slug, token in peeked.items() if held.get(slug) == token}
    await dequeue(session, sorted(unchanged))
    return unchanged


async def refresh_stale(
    engine: AsyncEngine,
    today: dt.date,
    partitions: Collection[int] | None = None,
    limit: int = REFRESH_CHUNK,
) -> int:
    """Refresh every queued company of `partitions`, a chunk at a time; how many.

    Each chunk is read and computed outside any write transaction, then written in a short
    one with those of its companies no batch changed meanwhile (`take_unchanged`): on SQLite
    the one write lock is held for the writes alone, so two workers refreshing at the end of
    a backlog read and compute side by side instead of taking turns. Stops early when a
    chunk writes nothing (every company of it changed meanwhile: the next tick tries again)."""
    done = 0
    sessions = session_factory(engine)
    while True:
        async with sessions() as session:
            day = await current_day(session, today)
            peeked = await peek_stale(session, partitions, limit)
            inputs = await read_inputs(session, sorted(peeked), day)
        rows = company_rows(inputs, day)
        unchanged: set[str] = set()
        async with sessions() as session, session.begin():
            if await evaluation_day(session, today) == day:  # else a new day queued them all
                unchanged = await take_unchanged(session, peeked)
                await write_rows(session, rows.only(unchanged))
        done += len(unchanged)
        if len(peeked) < limit or not unchanged:
            return done


async def stale_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(StaleCompany)) or 0
