"""A mirrored batch's share of the projection, in the batch's own transaction: fold its
records, refresh (or queue) its companies. Runs in the worker that owns the partitions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.projections.effective import LoggedEvent
from dealwatch.projections.record_fold import target_of
from dealwatch.projections.thresholds import Thresholds
from dealwatch.services.projection.companies import refresh_companies
from dealwatch.services.projection.evaluation import evaluation_day
from dealwatch.services.projection.records import FoldOutcome, Prepared, fold_targets, prepare
from dealwatch.services.projection.stale import queue_stale


def earliest_copies(events: Iterable[LoggedEvent]) -> dict[str, LoggedEvent]:
    """Event id -> the earliest copy of that event among `events` (a re-sent one repeats)."""
    batch: dict[str, LoggedEvent] = {}
    for logged in events:
        seen = batch.get(logged.event.event_id)
        if seen is None or logged.position < seen.position:
            batch[logged.event.event_id] = logged
    return batch


def prepare_batch(events: Iterable[LoggedEvent]) -> dict[str, Prepared]:
    """The folds a batch's transaction may take ready-made (records.prepare): pure Python,
    run before the transaction so that it overlaps the previous one's SQL."""
    return prepare(earliest_copies(events))


async def fold_batch(
    session: AsyncSession,
    events: Iterable[LoggedEvent],
    today: dt.date,
    *,
    live: bool = True,
    prepared: Mapping[str, Prepared] | None = None,
    thresholds: Thresholds | None = None,
) -> FoldOutcome:
    """Fold the records a mirrored batch concerns (with the folds `prepared` from its events
    before the transaction, records.prepare). A `live` batch (read at the log's end)
    refreshes its companies now; one read from a backlog queues them (projection/stale.py).
    `thresholds`, the alert pass's, let the fold queue only records that may alert."""
    batch = earliest_copies(events)
    if not batch:
        return FoldOutcome()
    day = await evaluation_day(session, today)
    targets = {target_of(e.event.record) for e in batch.values()}
    outcome = await fold_targets(
        session, targets, day, batch, prepared=prepared, thresholds=thresholds
    )
    if live:  # refreshed now, and taken off the refresh queue (projection/stale.py)
        await refresh_companies(session, outcome.companies, day)
    else:
        await queue_stale(session, {c: outcome.partitions.get(c, 0) for c in outcome.companies})
    return outcome
