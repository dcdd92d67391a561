"""A refresh reads its queued companies without a lock and writes only those no batch changed
meanwhile (services/projection/stale.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import text

from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.schema import upgrade
from dealwatch.services.projection.companies import refresh_companies
from dealwatch.services.projection.stale import (
    peek_stale,
    queue_stale,
    refresh_stale,
    take_unchanged,
)

DAY = dt.date(2024, 12, 31)


async def _confirmed_after(url: str, meanwhile: str) -> tuple[set[str], list[str]]:
    """alpha and beta queued; a refresh reads the queue; then `meanwhile` happens to alpha
    in a transaction that commits; then the refresh confirms. What it confirmed, what is
    queued at the end."""
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            await queue_stale(session, {"alpha": 0, "beta": 0})
        async with sessions() as session:
            peeked = await peek_stale(session, [0], 100)
        async with sessions() as session, session.begin():
            if meanwhile == "queued again":
                await queue_stale(session, {"alpha": 3})
            else:  # a batch at the live edge refreshes its companies itself
                await refresh_companies(session, {"alpha"}, DAY)
        async with sessions() as session, session.begin():
            confirmed = await take_unchanged(session, peeked)
        async with sessions() as session:
            rows = await session.execute(text("SELECT slug, partition FROM stale_companies"))
            queued = sorted(f"{slug}@{partition}" for slug, partition in rows)
        return confirmed, queued
    finally:
        await engine.dispose()


def test_a_company_queued_again_after_the_read_is_not_confirmed(database_url: str) -> None:
    confirmed, queued = asyncio.run(_confirmed_after(database_url, "queued again"))
    assert confirmed == {"beta"}, f"confirmed {confirmed}"
    assert queued == ["alpha@0"], f"queued {queued} (a company queued keeps its partition)"


def test_a_company_refreshed_after_the_read_is_not_confirmed(database_url: str) -> None:
    confirmed, queued = asyncio.run(_confirmed_after(database_url, "refreshed"))
    assert confirmed == {"beta"}, f"confirmed {confirmed}"
    assert queued == [], f"queued {queued}"


async def _refresh_all(url: str, companies: int, limit: int) -> tuple[int, int]:
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            await queue_stale(session, {f"c-{i:03d}": i % 2 for i in range(companies)})
        done = await refresh_stale(engine, DAY, [0], limit=limit)
        async with sessions() as session:
            left = await session.scalar(text("SELECT count(*) FROM stale_companies"))
        return done, left
    finally:
        await engine.dispose()


def test_a_refresh_takes_every_chunk_of_its_partitions(database_url: str) -> None:
    done, left = asyncio.run(_refresh_all(database_url, 25, limit=4))
    assert (done, left) == (13, 12), f"refreshed {done}, left {left} (partition 1's)"
