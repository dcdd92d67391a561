"""A mirrored batch's share of the projection, in the batch's own transaction: fold its
records, refresh its companies. Runs in the worker that owns the batch's partitions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from projections.effective import LoggedEvent
from projections.record_fold import target_of
from services.db.log_mirror import dialect_insert
from services.db.models import ProjectionState
from services.db.state_models import STATE_FORMAT
from services.projection.companies import refresh_companies
from services.projection.records import FoldOutcome, fold_targets


async def evaluation_day(session: AsyncSession, today: dt.date) -> dt.date:
    """The day the tables are projected as of (set once; a projector tick moves it). On
    PostgreSQL the state row is share-locked: batches run side by side, a merge waits."""
    await session.execute(
        dialect_insert(session, ProjectionState)
        .values(id=1, log_version=0, evaluation_day=today, state_format=STATE_FORMAT)
        .on_conflict_do_nothing()
    )
    query = select(ProjectionState.evaluation_day).where(ProjectionState.id == 1)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    day = await session.scalar(query)
    return day or today


async def fold_batch(
    session: AsyncSession, events: Iterable[LoggedEvent], today: dt.date
) -> FoldOutcome:
    """Fold the records a mirrored batch concerns and refresh their companies."""
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
    await refresh_companies(session, outcome.companies, day)
    return outcome
