"""Company refreshes coalesced while a backlog is read.

A company with ten records in a backlog would otherwise be refreshed ten times, each time
from all its records. A batch read from a backlog queues its companies here instead; the
worker that owns the partition they came from refreshes each once, when it has caught up
(and now and then while it reads). A batch at the live edge refreshes its companies at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections import deque
from collections.abc import Collection, Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dealwatch.services.db.bulk import bulk_insert, execute_bulk, is_postgresql
from dealwatch.services.db.engine import session_factory
from dealwatch.services.db.keyed import among
from dealwatch.services.db.state_models import StaleCompany
from dealwatch.services.projection.companies import company_rows, dequeue, read_inputs, write_rows
from dealwatch.services.projection.evaluation import current_day, evaluation_day
from dealwatch.services.projection.records import chunks
from dealwatch.services.projection.refresh_pool import RefreshPool

REFRESH_CHUNK = 2_000  # companies per refresh transaction (a pool's: RefreshPool.chunk)
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
    session: AsyncSession,
    partitions: Collection[int] | None,
    limit: int,
    after: str | None = None,
) -> dict[str, int]:
    """Up to `limit` queued companies of `partitions` (all when None), in slug order from
    after `after`, with their tokens; nothing is removed or locked."""
    t = StaleCompany.__table__.c
    query = select(t.slug, t.token).order_by(t.slug).limit(limit)
    if after is not None:
        query = query.where(t.slug > after)
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
    pool: RefreshPool | None = None,
) -> int:
    """Refresh every queued company of `partitions`, a chunk at a time; how many.

    Each chunk is read and computed outside any write transaction, then written in a short
    one with those of its companies no batch changed meanwhile (`take_unchanged`): on SQLite
    the one write lock is held for the writes alone, so two workers refreshing at the end of
    a backlog read and compute side by side instead of taking turns. With a `pool`, a queue
    of more than one chunk is read and computed in its processes, a chunk each at a time.
    Companies changed meanwhile stay queued for the next call."""
    limit = pool.chunk if pool is not None else limit
    sessions = session_factory(engine)
    async with sessions() as session:
        day = await current_day(session, today)
        peeked = await peek_stale(session, partitions, limit)
    if not peeked:
        return 0
    if pool is not None and len(peeked) == limit:
        return await _refresh_in_pool(engine, today, partitions, limit, pool, day, peeked)
    done = 0
    while True:
        async with sessions() as session:
            inputs = await read_inputs(session, sorted(peeked), day)
        done += await _write_unchanged(engine, today, day, peeked, company_rows(inputs, day))
        if len(peeked) < limit:
            return done
        async with sessions() as session:
            day = await current_day(session, today)
            peeked = await peek_stale(session, partitions, limit, after=max(peeked))


async def _refresh_in_pool(engine, today, partitions, limit, pool, day, peeked) -> int:
    """`refresh_stale`'s chunks computed in `pool`, as many at a time as it has processes,
    written in order as each is done."""
    sessions = session_factory(engine)
    in_flight: deque[tuple[dt.date, dict[str, int], asyncio.Future]] = deque()
    done = 0
    while peeked or in_flight:
        while peeked and len(in_flight) < pool.processes:
            rows = asyncio.ensure_future(pool.rows(sorted(peeked), day))
            in_flight.append((day, peeked, rows))
            if len(peeked) < limit:
                peeked = {}
                break
            async with sessions() as session:
                day = await current_day(session, today)
                peeked = await peek_stale(session, partitions, limit, after=max(peeked))
        chunk_day, chunk, rows = in_flight.popleft()
        try:
            done += await _write_unchanged(engine, today, chunk_day, chunk, await rows)
        except BaseException:
            for *_, waiting in in_flight:
                waiting.cancel()
            raise
    return done


async def _write_unchanged(
    engine: AsyncEngine, today: dt.date, day: dt.date, peeked: Mapping[str, int], rows
) -> int:
    """Write the rows of the companies of `peeked` still queued under their tokens (read as
    of `day`), in one transaction; how many."""
    async with session_factory(engine)() as session, session.begin():
        if await evaluation_day(session, today) != day:  # a new day queued them all again
            return 0
        unchanged = await take_unchanged(session, peeked)
        await write_rows(session, rows.only(unchanged))
    return len(unchanged)


async def stale_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(StaleCompany)) or 0
