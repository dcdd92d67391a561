"""The day the tables are projected as of, read by every transaction that folds or refreshes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.services.db.bulk import is_postgresql
from dealwatch.services.db.log_mirror import dialect_insert
from dealwatch.services.db.models import ProjectionState
from dealwatch.services.db.state_models import STATE_FORMAT


async def evaluation_day(session: AsyncSession, today: dt.date) -> dt.date:
    """The day the tables are projected as of (set once; a projector tick moves it). On
    PostgreSQL the state row is share-locked: batches run side by side, a merge waits."""
    await session.execute(
        dialect_insert(session, ProjectionState)
        .values(id=1, log_version=0, evaluation_day=today, state_format=STATE_FORMAT)
        .on_conflict_do_nothing()
    )
    # A state row without a day (the registry mirrored first) gets the day this fold uses:
    # else the first tick to another day would not roll the ledger over from it.
    await session.execute(
        update(ProjectionState)
        .where(ProjectionState.id == 1, ProjectionState.evaluation_day.is_(None))
        .values(evaluation_day=today)
    )
    query = select(ProjectionState.evaluation_day).where(ProjectionState.id == 1)
    if is_postgresql(session):
        query = query.with_for_update(read=True)
    day = await session.scalar(query)
    return day or today


async def current_day(session: AsyncSession, today: dt.date) -> dt.date:
    """The evaluation day as committed, read without writing or locking (`today` when none is
    set yet): for work that reads first and confirms the day in its write transaction."""
    day = await session.scalar(
        select(ProjectionState.evaluation_day).where(ProjectionState.id == 1)
    )
    return day or today
