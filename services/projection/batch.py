"""A mirrored batch's share of the projection, in the batch's own transaction: fold its
records, refresh (or queue) its companies. Runs in the worker that owns the partitions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from projections.effective import LoggedEvent
from projections.record_fold import target_of
from services.projection.companies import refresh_companies
from services.projection.evaluation import evaluation_day
from services.projection.records import FoldOutcome, fold_targets
from services.projection.stale import forget_stale, queue_stale


async def fold_batch(
    session: AsyncSession, events: Iterable[LoggedEvent], today: dt.date, *, live: bool = True
) -> FoldOutcome:
    """Fold the records a mirrored batch concerns. A `live` batch (read at the log's end)
    refreshes its companies now; one read from a backlog queues them (projection/stale.py)."""
    batch: dict[str, LoggedEvent] = {}
    for logged in events:  # the earliest copy of each event in the batch
        seen = batch.get(logged.event.event_id)
        if seen is None or logged.position < seen.position:
            batch[logged.event.event_id] = logged
    if not batch:
        return FoldOutcome()
    day = await evaluation_day(session, today)
    targets = {target_of(e.event.record) for e in batch.values()}
    outcome = await fold_targets(session, targets, day, batch)
    if live:  # dequeued first: a backlog batch committing meanwhile queues them again
        await forget_stale(session, outcome.companies)
        await refresh_companies(session, outcome.companies, day)
    else:
        await queue_stale(session, {c: outcome.partitions.get(c, 0) for c in outcome.companies})
    return outcome
