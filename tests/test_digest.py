"""The digest the scheduler sends, built from the incremental tables a company at a time,
equals `projections.digest.digest()` over the whole log: for random logs (corrections,
retractions, duplicates, a registry role change, series changes merged or still queued), on
SQLite and PostgreSQL, at any day and span; and for the seed feed."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealwatch.alerts.rules_config import load_rules
from dealwatch.projections.digest import Digest, digest
from dealwatch.projections.effective import LoggedEvent
from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.log_mirror import write_registry
from dealwatch.services.db.schema import upgrade
from dealwatch.services.projection.digest import digest_from_tables
from dealwatch.services.projection.projector import Projector, load_registry
from dealwatch.services.seed import SEED_REGISTRY
from tests.incremental import mirror
from tests.random_logs import DAY, dates, logs, registry_rows
from tests.seed import seed_events

WINDOW = 60


async def _both(url: str, log, day: dt.date, days: int) -> tuple[Digest, Digest]:
    """(from the tables, from the log) after mirroring the log's batches with its ticks."""
    batches, ticks, live, roles, flip, at, _ = log
    upgrade(url)
    engine = make_async_engine(url)
    try:
        sessions = session_factory(engine)
        projector = Projector(engine, load_rules(None))
        async with sessions() as session, session.begin():
            await write_registry(session, registry_rows(roles), [], [])
        for i, batch in enumerate(batches):
            if flip is not None and i == at:
                changed = dict(roles)
                changed[flip] = "investor" if roles[flip] == "incumbent" else "incumbent"
                async with sessions() as session, session.begin():
                    await write_registry(session, registry_rows(changed), [], [])
            async with sessions() as session, session.begin():
                await mirror(session, batch, DAY, live=live[i])
            if ticks[i]:  # merges the queued series changes; later batches queue more
                await projector.run(DAY, WINDOW, record_alerts=False, refresh_stale=True)
        async with sessions() as session:
            now = {slug: e.role for slug, e in (await load_registry(session)).items()}
            from_tables = await digest_from_tables(session, now, day, days, WINDOW)
    finally:
        await engine.dispose()
    events = [logged for batch in batches for logged in batch]
    return from_tables, digest(events, now, day, days, WINDOW)


spans = st.sampled_from([1, 7, 30, 90, 400])


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(log=logs(), day=dates, days=spans)
def test_digest_from_tables_equals_the_digest_of_the_log_sqlite(
    log, day, days, tmp_path_factory
) -> None:
    path = tmp_path_factory.mktemp("digest") / f"{uuid.uuid4().hex}.db"
    from_tables, from_log = asyncio.run(_both(f"sqlite:///{path}", log, day, days))
    assert from_tables == from_log


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(log=logs(), day=dates, days=spans)
def test_digest_from_tables_equals_the_digest_of_the_log_postgresql(
    log, day, days, pg_admin_url
) -> None:
    from tests.conftest import fresh_postgres_database

    with fresh_postgres_database(pg_admin_url) as url:
        from_tables, from_log = asyncio.run(_both(url, log, day, days))
    assert from_tables == from_log


def test_seed_digest_from_tables(tmp_path) -> None:
    """The seed feed in one batch: the same digest, and one that says something."""
    logged = [LoggedEvent(e.event, (0, i)) for i, e in enumerate(seed_events())]
    registry = [
        {"slug": r["slug"], "name": r["name"], "role": r["role"], "country": r.get("country")}
        for r in csv.DictReader(SEED_REGISTRY.open())
    ]
    url = f"sqlite:///{tmp_path / 'seed.db'}"

    async def run() -> list[tuple[Digest, Digest]]:
        upgrade(url)
        engine = make_async_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                await write_registry(session, registry, [], [])
                await mirror(session, logged, DAY)
            async with session_factory(engine)() as session:
                roles = {s: e.role for s, e in (await load_registry(session)).items()}
                pairs = []
                for day in (dt.date(2024, 3, 31), dt.date(2024, 7, 1), DAY):
                    got = await digest_from_tables(session, roles, day, 90, 365)
                    pairs.append((got, digest(logged, roles, day, 90, 365)))
                return pairs
        finally:
            await engine.dispose()

    pairs = asyncio.run(run())
    for from_tables, from_log in pairs:
        assert from_tables == from_log
    assert any(d.new_absorptions for d, _ in pairs)
    assert any(d.status_changes for d, _ in pairs)
    assert any(d.idx_now != d.idx_then for d, _ in pairs)
