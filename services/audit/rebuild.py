"""`dealwatch replay --db URL`: the projections rebuilt from the log into a fresh database with
the live worker's own code (the mirror writes, the hash chains, the projector), read by a
consumer of its own: no consumer group, no commits, no effect on the live workers."""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable, Collection

from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.alerts.rules_config import RulesConfig
from dealwatch.projections.effective import LoggedEvent
from dealwatch.projections.thresholds import Thresholds
from dealwatch.services.audit.processes import (
    deal_event_partitions,
    mirror_in_processes,
    partition_groups,
)
from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.log_mirror import (
    Consumed,
    Message,
    consumed_of,
    write_events,
    write_registry,
)
from dealwatch.services.db.schema import upgrade
from dealwatch.services.kafka.log_reader import read_topic
from dealwatch.services.kafka.topics import COMPANIES, DEAL_EVENTS
from dealwatch.services.projection.batch import fold_batch, prepare_batch
from dealwatch.services.projection.projector import ProjectionOutcome, Projector
from dealwatch.services.projection.refresh_pool import RefreshPool
from dealwatch.services.projection.write_ahead import WriteAhead
from dealwatch.services.runtime import FreeMemoryReleaser, tune_gc_for_batches
from dealwatch.services.worker.app import decoded_row, registry_row
from dealwatch.services.worker.catchup import end_offsets

BATCH = (
    20_000  # events per transaction: see services/worker/app.py BATCH_SIZE on why larger is cheaper
)


async def messages_in_log(settings: Settings) -> int:
    """Messages to read, for the progress bar."""
    return sum((await end_offsets(settings)).values())


async def rebuild(
    settings: Settings,
    url: str,
    rules: RulesConfig,
    evaluation_day: dt.date,
    known_at: dt.date | None = None,
    advance: Callable[[int], None] = lambda _: None,
    processes: int | None = None,
) -> ProjectionOutcome:
    """Mirror the whole log into the database at `url` (only what was known at `known_at`,
    when given) and project it as of `evaluation_day`, alerts included. The events are
    read and folded by up to `processes` processes, each with its share of the partitions
    (default: one per CPU)."""
    processes = processes or os.cpu_count() or 1
    tune_gc_for_batches()
    upgrade(url)
    engine = make_async_engine(url)
    pool = RefreshPool(url, processes)
    try:
        await _mirror_registry(settings, engine, advance)
        await _mirror_events(
            settings, url, engine, known_at, evaluation_day, advance, processes, rules.thresholds
        )
        return await Projector(engine, rules, pool).run(
            evaluation_day,
            settings.dealwatch_window_days,
            record_alerts=True,
            force=True,
            count=True,
        )
    finally:
        pool.close()
        await engine.dispose()


async def _mirror_events(
    settings, url, engine, known_at, evaluation_day, advance, processes: int, thresholds
) -> None:
    """The deal events, partition by partition in `processes` processes (services/audit/
    processes.py) when there are more than one, as workers of one group would."""
    groups = (
        partition_groups(await deal_event_partitions(settings), processes) if processes > 1 else []
    )
    if len(groups) > 1:
        await mirror_in_processes(
            settings, url, known_at, evaluation_day, groups, advance, thresholds
        )
    else:
        await mirror_partitions(
            settings, engine, known_at, evaluation_day, None, advance, thresholds
        )


async def mirror_partitions(
    settings: Settings,
    engine: AsyncEngine,
    known_at: dt.date | None,
    evaluation_day: dt.date,
    partitions: Collection[int] | None,
    advance: Callable[[int], None],
    thresholds: Thresholds | None = None,
) -> None:
    """Mirror and fold the events of `partitions` (all when None) in batches, reading and
    decoding the next batch while the previous one is written (services/write_ahead);
    `thresholds` are the alert pass's (records.fold_targets)."""
    rows: list[dict] = []
    decoded: list = []
    messages: list[Message] = []
    ahead = WriteAhead()
    release_memory = FreeMemoryReleaser()

    async def write(
        rows: list[dict], decoded: list, messages: list[Message], prepared: dict
    ) -> None:
        async with session_factory(engine)() as session, session.begin():
            await write_events(session, rows, consumed_of(messages), messages)
            await fold_batch(
                session,
                decoded,
                evaluation_day,
                live=False,
                prepared=prepared,
                thresholds=thresholds,
            )
        advance(len(messages))
        release_memory()

    try:
        async for m in read_topic(settings, settings.topic(DEAL_EVENTS), partitions):
            messages.append(Message(m.topic, m.partition, m.offset, m.value))
            try:
                row, event = decoded_row(m.topic, m.partition, m.offset, m.value)
            except ValueError:
                row = None  # undecodable: chained and counted, not mirrored (as the worker does)
            if row is not None and (known_at is None or row["reported"] <= known_at):
                rows.append(row)
                decoded.append(LoggedEvent(event, (m.partition, m.offset)))
            if len(messages) >= BATCH:
                folds = prepare_batch(decoded)  # while the previous batch is in SQL
                await ahead.submit(functools.partial(write, rows, decoded, messages, folds))
                rows, decoded, messages = [], [], []
        if messages:
            folds = prepare_batch(decoded)
            await ahead.submit(functools.partial(write, rows, decoded, messages, folds))
    finally:
        await ahead.drain()  # no write outlives the replay


async def _mirror_registry(settings, engine, advance) -> None:
    latest: dict[str, dict | None] = {}
    ends: dict[tuple[str, int], int] = {}
    async for m in read_topic(settings, settings.topic(COMPANIES)):
        latest[m.key.decode()] = None if m.value is None else registry_row(m.value)
        ends[(m.topic, m.partition)] = m.offset + 1
    entries = [row for row in latest.values() if row is not None]
    removed = [slug for slug, row in latest.items() if row is None]
    consumed = [Consumed(t, p, n) for (t, p), n in sorted(ends.items())]
    async with session_factory(engine)() as session, session.begin():
        await write_registry(session, entries, removed, consumed)
    advance(sum(ends.values()))
