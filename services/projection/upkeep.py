"""Work the projector does besides merging: a new evaluation day, registry changes, the issue
list, and folding the whole mirror again when the state's format is behind."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.services.db.models import (
    Company,
    Deal,
    Event,
    ProjectionIssue,
    RegistryEntry,
    Watchlist,
)
from dealwatch.services.db.state_models import (
    STATE_FORMAT,
    CompanyState,
    PendingCheck,
    RecordState,
    SeriesChange,
    SeriesDay,
    StaleCompany,
)
from dealwatch.services.projection.codec import decode
from dealwatch.services.projection.companies import refresh_companies
from dealwatch.services.projection.records import (
    add_checks,
    chunks,
    deal_row,
    fold_targets,
    write_deals,
)
from dealwatch.services.projection.stale import queue_all

FORMAT = STATE_FORMAT
ABSORBING_KINDS = ("licensing", "acquisition")


async def all_companies(session: AsyncSession) -> set[str]:
    """Every slug a company row may exist for: records, the registry, rows already written."""
    slugs = set((await session.execute(select(RecordState.company).distinct())).scalars())
    slugs |= set((await session.execute(select(RegistryEntry.slug))).scalars())
    slugs |= set((await session.execute(select(Company.slug))).scalars())
    slugs |= set((await session.execute(select(Watchlist.company))).scalars())
    slugs.discard(None)
    return slugs


async def refresh_all_companies(session: AsyncSession, day: dt.date) -> int:
    """Every company, as of `day` (under the state lock: no batch folds meanwhile), so none is
    left queued as stale."""
    await session.execute(delete(StaleCompany))
    changed = 0
    for part in chunks(sorted(await all_companies(session)), 5_000):
        changed += await refresh_companies(session, set(part), day)
    return changed


async def roll_over(session: AsyncSession, before: dt.date, now: dt.date) -> None:
    """A new evaluation day: records dated between the two days enter or leave the deal ledger
    and the alert rules, and every company's runway moves with the calendar: all are queued
    as stale, refreshed a chunk per transaction after this one (not all under the lock)."""
    low, high = sorted((before, now))
    c = RecordState.__table__.c
    rows = (
        await session.execute(
            select(c.record_id, c.record).where(c.date > low, c.date <= high, c.record.is_not(None))
        )
    ).all()
    upserts, deletes = [], []
    for record_id, text in rows:
        if now >= high:
            upserts.extend(deal_row(decode(text)))
        else:
            deletes.append(record_id)
    await write_deals(session, deletes, upserts)
    await queue_record_checks(session, select(c.record_id).where(c.date > low, c.date <= high))
    await queue_all(session, await all_companies(session))


async def queue_record_checks(session: AsyncSession, ids) -> None:
    """Queue the records `ids` (a SELECT of record ids) for the alert pass."""
    found = list((await session.execute(ids)).scalars())
    for part in chunks(found):
        await add_checks(session, [{"kind": "record", "key": rid} for rid in part])


async def registry_changed(session: AsyncSession, day: dt.date) -> bool:
    """Slugs the registry mirror changed: their company rows, and the alert rules that read
    roles (licensing and acquisition records). Returns whether any changed."""
    slugs = set(
        (
            await session.execute(select(PendingCheck.key).where(PendingCheck.kind == "registry"))
        ).scalars()
    )
    if not slugs:
        return False
    await session.execute(delete(PendingCheck).where(PendingCheck.kind == "registry"))
    await refresh_companies(session, slugs, day)
    c = RecordState.__table__.c
    await queue_record_checks(
        session, select(c.record_id).where(c.kind.in_(ABSORBING_KINDS), c.record.is_not(None))
    )
    return True


async def rewrite_issues(session: AsyncSession, force: bool = False) -> bool:
    """The `projection_issues` table in the order `effective_view` gives, when issues changed."""
    queued = (
        await session.execute(select(PendingCheck.key).where(PendingCheck.kind == "issues"))
    ).first()
    if queued is None and not force:
        return False
    await session.execute(delete(PendingCheck).where(PendingCheck.kind == "issues"))
    found = []
    for (text,) in await session.execute(
        select(RecordState.issues).where(RecordState.issues.is_not(None))
    ):
        found.extend((order, message) for order, message in json.loads(text))
    found.sort(key=lambda item: item[0])
    await session.execute(delete(ProjectionIssue))
    if found:
        await session.execute(
            insert(ProjectionIssue.__table__),
            [{"seq": i, "message": m} for i, (_, m) in enumerate(found)],
        )
    return True


async def refold_everything(session: AsyncSession, day: dt.date, say=lambda _: None) -> int:
    """Fold every mirrored record again into empty state tables (a new format, a database
    from before incremental projections). Bounded memory: chunks of record ids."""
    for table in (
        RecordState,
        CompanyState,
        SeriesDay,
        SeriesChange,
        PendingCheck,
        StaleCompany,
        Deal,
    ):
        await session.execute(delete(table))
    targets = select(Event.target_id).distinct().order_by(Event.target_id)
    last, done = None, 0
    while True:
        query = targets.where(Event.target_id > last) if last is not None else targets
        part = list((await session.execute(query.limit(5_000))).scalars())
        if not part:
            break
        await fold_targets(session, part, day)  # companies: all refreshed once, below
        done += len(part)
        last = part[-1]
        say(f"folded {done} records")
    await refresh_all_companies(session, day)
    await rewrite_issues(session, force=True)
    return done


async def set_state(session: AsyncSession, **values) -> None:
    from dealwatch.services.db.models import ProjectionState

    await session.execute(update(ProjectionState).where(ProjectionState.id == 1).values(**values))
