"""Recompute the projections from the SQL mirror of the log and write them in one transaction.

Global numbers (the index over all companies) are computed here from SQL, not inside one
worker's partitions, so any number of workers in one consumer group give the same tables.
A `Projector` keeps the decoded events and the rows it last wrote in memory: it decodes only
new events, and when the tables are still as it left them it writes only the rows that changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from alerts.outbox import OutboxChange, sync_outbox
from alerts.rules_config import RulesConfig
from events.envelope import DealEvent
from projections.effective import LoggedEvent
from projections.projection import Projection, project
from services.db.engine import session_factory
from services.db.log_mirror import lock_state, upsert
from services.db.models import (
    Event,
    ProjectionState,
    RegistryEntry,
)
from services.db.projection_rows import projection_tables

Rows = dict[tuple, dict]


@dataclass(frozen=True)
class ProjectionOutcome:
    """What one projector run did (`skipped` when nothing changed since the last run)."""

    skipped: bool
    evaluation_day: dt.date
    log_version: int
    events: int = 0
    series_rows: int = 0
    watchlist: int = 0
    alerts_added: int = 0
    alerts_cancelled: int = 0
    digest: str | None = None
    seconds: float = 0.0
    rows_written: int = 0


def digest_of(projection: Projection) -> str:
    """The SHA-256 of the projection's canonical JSON, which a replay must reproduce."""
    return hashlib.sha256(projection.to_json()).hexdigest()


async def load_log(
    session: AsyncSession, cache: dict[str, LoggedEvent] | None = None
) -> list[LoggedEvent]:
    """Every mirrored event with its (partition, offset); decodes only what `cache` lacks."""
    cache = {} if cache is None else cache
    result = await session.execute(select(Event.event_id, Event.partition, Event.offset))
    positions = {eid: (part, off) for eid, part, off in result}
    missing = [
        eid for eid, pos in positions.items() if eid not in cache or cache[eid].position != pos
    ]
    for start in range(0, len(missing), 5_000):
        chunk = missing[start : start + 5_000]
        rows = await session.execute(
            select(Event.event_id, Event.payload).where(Event.event_id.in_(chunk))
        )
        for eid, payload in rows:
            cache[eid] = LoggedEvent(DealEvent.from_bytes(payload), positions[eid])
    for gone in cache.keys() - positions.keys():
        del cache[gone]
    return list(cache.values())


async def load_registry(session: AsyncSession) -> dict[str, RegistryEntry]:
    result = await session.execute(select(RegistryEntry))
    return {e.slug: e for e in result.scalars()}


class Projector:
    """Projects the SQL mirror; one per process, reused from tick to tick."""

    def __init__(self, engine: AsyncEngine, rules: RulesConfig) -> None:
        self.engine = engine
        self.rules = rules
        self.events: dict[str, LoggedEvent] = {}
        self.written: dict[str, Rows] = {}
        self.written_id: str | None = None

    async def run(
        self,
        evaluation_day: dt.date,
        window_days: int = 365,
        *,
        record_alerts: bool = True,
        force: bool = False,
        now: dt.datetime | None = None,
    ) -> ProjectionOutcome:
        """Bring the projection tables and the alert outbox up to the mirror, atomically.

        With `record_alerts=False` (the log is still being read) only the tables change:
        alerts are recorded once the picture is complete, so a backlog being read does not
        fire threshold alerts that only its first half implies.
        """
        started = time.perf_counter()
        async with session_factory(self.engine)() as session, session.begin():
            state = await _locked_state(session)
            fresh = (
                state.projected_version == state.log_version
                and state.evaluation_day == evaluation_day
                and state.window_days == window_days
                and (state.alerts_version == state.log_version or not record_alerts)
            )
            if fresh and not force:
                return ProjectionOutcome(True, evaluation_day, state.log_version)
            log = await load_log(session, self.events)
            registry = await load_registry(session)
            roles = {slug: e.role for slug, e in registry.items()}
            projection = await asyncio.to_thread(
                project, log, roles, evaluation_day, window_days, self.rules.thresholds
            )
            if state.projection_id != self.written_id:  # someone else wrote: rewrite all
                self.written = {}
            written = await self._write_tables(session, projection, registry)
            change = OutboxChange(0, 0)
            if record_alerts:
                change = await sync_outbox(
                    session,
                    projection.alerts,
                    self.rules,
                    now or dt.datetime.now(dt.UTC),
                    set(projection.retracted_event_ids),
                )
            digest = digest_of(projection)
            projection_id = uuid.uuid4().hex
            await session.execute(
                update(ProjectionState)
                .where(ProjectionState.id == 1)
                .values(
                    projected_version=state.log_version,
                    alerts_version=state.log_version if record_alerts else state.alerts_version,
                    evaluation_day=evaluation_day,
                    window_days=window_days,
                    digest=digest,
                    projection_id=projection_id,
                    projected_at=dt.datetime.now(dt.UTC),
                )
            )
        self.written_id = projection_id
        return ProjectionOutcome(
            False,
            evaluation_day,
            state.log_version,
            len(log),
            len(projection.series),
            len(projection.watchlist),
            change.added,
            change.cancelled,
            digest,
            time.perf_counter() - started,
            written,
        )

    async def _write_tables(
        self, session: AsyncSession, projection: Projection, registry: dict[str, RegistryEntry]
    ) -> int:
        written = 0
        for table in projection_tables(projection, registry):
            name = table.model.__tablename__
            self.written[name], count = await _sync_table(
                session, table.model, table.keys, table.rows, self.written.get(name), table.scope
            )
            written += count
        return written


async def _sync_table(
    session: AsyncSession,
    model,
    keys: Sequence[str],
    rows: list[dict],
    previous: Rows | None,
    scope,
) -> tuple[Rows, int]:
    """Make the table hold `rows`: only the differences when `previous` is what it holds."""
    new = {tuple(r[k] for k in keys): r for r in rows}
    if previous is None:
        await session.execute(delete(model).where(scope) if scope is not None else delete(model))
        if rows:
            await session.execute(insert(model), rows)
        return new, len(rows)
    removed = [dict(zip(keys, k, strict=True)) for k in previous.keys() - new.keys()]
    changed = [r for k, r in new.items() if previous.get(k) != r]
    if removed:
        columns = model.__table__.c
        match = and_(*[columns[k] == bindparam(f"key_{k}") for k in keys])
        await session.execute(
            delete(model).where(match), [{f"key_{k}": r[k] for k in keys} for r in removed]
        )
    await upsert(session, model, changed, list(keys))
    return new, len(removed) + len(changed)


async def _locked_state(session: AsyncSession) -> ProjectionState:
    """The state row, write-locked first so that concurrent projectors take turns."""
    await lock_state(session)
    row = (await session.execute(select(ProjectionState).where(ProjectionState.id == 1))).one()
    return row[0]


async def run_projection(
    engine: AsyncEngine,
    rules: RulesConfig,
    evaluation_day: dt.date,
    window_days: int = 365,
    **options,
) -> ProjectionOutcome:
    """One projection with a fresh projector (tools and tests; workers keep a `Projector`)."""
    return await Projector(engine, rules).run(evaluation_day, window_days, **options)
