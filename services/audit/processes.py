"""A rebuild's events read and folded by several processes, each with its share of the
deal-events partitions: what several workers of one consumer group do live, and with the
same guarantees (a record's fold locks it on PostgreSQL; SQLite takes one writer at a time).
Each process decodes and folds on its own core; on SQLite its one writer still bounds the
whole (1.04 x with two processes on two cores, docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from dealwatch.projections.thresholds import Thresholds
from dealwatch.services.config import Settings
from dealwatch.services.kafka.topics import DEAL_EVENTS
from dealwatch.services.worker.catchup import end_offsets

PROGRESS_EVERY = 0.2  # s

_progress = None  # each child's share of the messages-read counter


async def deal_event_partitions(settings: Settings) -> list[int]:
    topic = settings.topic(DEAL_EVENTS)
    return sorted(p for t, p in await end_offsets(settings) if t == topic)


def partition_groups(partitions: Sequence[int], processes: int) -> list[list[int]]:
    """`partitions` dealt round-robin into at most `processes` non-empty groups."""
    count = max(1, min(processes, len(partitions)))
    return [list(partitions[i::count]) for i in range(count)] if partitions else [[]]


async def mirror_in_processes(
    settings: Settings,
    url: str,
    known_at: dt.date | None,
    evaluation_day: dt.date,
    groups: list[list[int]],
    advance: Callable[[int], None],
    thresholds: Thresholds | None = None,
) -> None:
    """Run `mirror_partitions` for each group in a process of its own (spawned: no copy of
    this event loop); report their progress; raise the first failure."""
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(
        len(groups), mp_context=context, initializer=_keep_counter, initargs=(counter,)
    ) as pool:
        done = [
            loop.run_in_executor(
                pool, _mirror_group, settings, url, known_at, evaluation_day, group, thresholds
            )
            for group in groups
        ]
        reported = 0
        try:
            while not all(f.done() for f in done):
                await asyncio.wait(done, timeout=PROGRESS_EVERY)
                read = counter.value
                advance(read - reported)
                reported = read
            for finished in done:
                finished.result()  # a child's exception, raised here
        finally:
            for pending in done:
                pending.cancel()


def _keep_counter(counter) -> None:
    global _progress
    _progress = counter


def _advance_shared(n: int) -> None:
    with _progress.get_lock():
        _progress.value += n


def _mirror_group(
    settings: Settings,
    url: str,
    known_at: dt.date | None,
    evaluation_day: dt.date,
    partitions: list[int],
    thresholds: Thresholds | None,
) -> None:
    """In a child process: mirror and fold `partitions` into the database at `url`."""
    from dealwatch.services.audit.rebuild import mirror_partitions
    from dealwatch.services.db.engine import make_async_engine
    from dealwatch.services.runtime import tune_gc_for_batches

    tune_gc_for_batches()

    async def run() -> None:
        engine = make_async_engine(url)
        try:
            await mirror_partitions(
                settings,
                engine,
                known_at,
                evaluation_day,
                partitions,
                _advance_shared,
                thresholds,
            )
        finally:
            await engine.dispose()

    asyncio.run(run())
