"""Drive the incremental projection without Kafka: mirror events into SQL in batches (the
worker's own functions), run projector ticks, and compare every table with `project()`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dealwatch.alerts.rules_config import RulesConfig
from dealwatch.projections.effective import LoggedEvent
from dealwatch.projections.projection import project
from dealwatch.projections.thresholds import Thresholds
from dealwatch.services.audit.tables import TableCheck, check_tables
from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.log_mirror import Consumed, Message, write_events, write_registry
from dealwatch.services.db.schema import upgrade
from dealwatch.services.projection.batch import fold_batch, prepare_batch
from dealwatch.services.projection.projector import Projector, load_registry
from dealwatch.services.projection.records import merge_prepared
from dealwatch.services.projection.refresh_pool import RefreshPool
from dealwatch.services.worker.app import decoded_row

TOPIC = "deal-events"


async def mirror(
    session,
    batch: Sequence[LoggedEvent],
    today: dt.date,
    live: bool = True,
    thresholds: Thresholds | None = None,
) -> None:
    rows, events, messages, ends = [], [], [], {}
    for logged in batch:
        partition, offset = logged.position
        value = logged.event.to_bytes()
        row, event = decoded_row(TOPIC, partition, offset, value)
        rows.append(row)
        events.append(LoggedEvent(event, logged.position))
        messages.append(Message(TOPIC, partition, offset, value))
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    consumed = [Consumed(TOPIC, p, n) for p, n in sorted(ends.items())]
    await write_events(session, rows, consumed, messages)
    # as the worker's group commit: two batches taken from Faust, their folds prepared apart,
    # written in one transaction (a target with events in both is folded in the transaction)
    half = len(events) // 2
    prepared = merge_prepared([prepare_batch(events[:half]), prepare_batch(events[half:])])
    await fold_batch(session, events, today, live=live, prepared=prepared, thresholds=thresholds)


async def run_incremental(
    url: str,
    registry_rows: list[dict],
    batches: Sequence[Sequence[LoggedEvent]],
    day: dt.date,
    rules: RulesConfig,
    ticks: Sequence[bool] = (),
    window_days: int = 365,
    registry_updates: dict[int, list[dict]] | None = None,
    tick_day: dt.date | None = None,
    live: Sequence[bool] = (),
    refresh_chunk: int | None = None,
) -> list[TableCheck]:
    """Mirror `batches` in order (read from a backlog when `live[i]` is False: its companies
    are queued; a projector tick after batch i when `ticks[i]`, as of `tick_day` when given:
    the evaluation day then moves to `day`; each tick refreshes the queued companies of one
    partition; alerts only at the end), then compare the tables with `project()` over every
    event as of `day`. With `refresh_chunk`, queued companies are refreshed in two
    processes (services/projection/refresh_pool), that many at a time."""
    upgrade(url)
    engine = make_async_engine(url)
    pool = RefreshPool(url, 2, refresh_chunk) if refresh_chunk else None
    try:
        sessions = session_factory(engine)
        projector = Projector(engine, rules, pool)
        async with sessions() as session, session.begin():
            await write_registry(session, registry_rows, [], [])
        updates = registry_updates or {}
        for i, batch in enumerate(batches):
            if i in updates:
                async with sessions() as session, session.begin():
                    await write_registry(session, updates[i], [], [])
            async with sessions() as session, session.begin():
                await mirror(
                    session,
                    batch,
                    day,
                    live=live[i] if i < len(live) else True,
                    thresholds=rules.thresholds,
                )
            if i < len(ticks) and ticks[i]:
                await projector.run(
                    tick_day or day,
                    window_days,
                    record_alerts=False,
                    refresh_stale=True,
                    partitions={i % 2},
                )
        if len(batches) in updates:
            async with sessions() as session, session.begin():
                await write_registry(session, updates[len(batches)], [], [])
        await projector.run(day, window_days, record_alerts=True)
        events = [e for batch in batches for e in batch]
        async with sessions() as session:
            registry = await load_registry(session)
            roles = {slug: e.role for slug, e in registry.items()}
            projection = project(events, roles, day, window_days, rules.thresholds)
            return await check_tables(
                session, projection, registry, {e.event.event_id for e in events}
            )
    finally:
        if pool is not None:
            pool.close()
        await engine.dispose()
