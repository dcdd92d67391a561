"""Recompute the projections from the SQL mirror of the log and write them in one transaction.

Global numbers (the index over all companies) are computed here from SQL, not inside one
worker's partitions, so any number of workers in one consumer group give the same tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from alerts.outbox import OutboxChange, sync_outbox
from alerts.rules_config import RulesConfig
from events.envelope import DealEvent
from projections.effective import LoggedEvent
from projections.projection import Projection, project
from services.db.engine import session_factory
from services.db.log_mirror import lock_state
from services.db.models import (
    Company,
    Consolidation,
    ConsolidationByIncumbent,
    Deal,
    Event,
    ProjectionIssue,
    ProjectionState,
    RegistryEntry,
    Watchlist,
)


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


def digest_of(projection: Projection) -> str:
    """The SHA-256 of the projection's canonical JSON, which a replay must reproduce."""
    return hashlib.sha256(projection.to_json()).hexdigest()


async def load_log(session: AsyncSession) -> list[LoggedEvent]:
    """Every mirrored event with its (partition, offset) position."""
    result = await session.execute(select(Event.payload, Event.partition, Event.offset))
    return [LoggedEvent(DealEvent.from_bytes(p), (part, off)) for p, part, off in result]


async def load_registry(session: AsyncSession) -> dict[str, RegistryEntry]:
    result = await session.execute(select(RegistryEntry))
    return {e.slug: e for e in result.scalars()}


async def run_projection(
    engine: AsyncEngine,
    rules: RulesConfig,
    evaluation_day: dt.date,
    window_days: int = 365,
    *,
    record_alerts: bool = True,
    force: bool = False,
    now: dt.datetime | None = None,
) -> ProjectionOutcome:
    """Bring the projection tables and the alert outbox up to the mirrored log, atomically.

    With `record_alerts=False` (the worker is still catching up with the log) only the tables
    change: alerts are recorded once the picture is complete, so a backlog being read does not
    fire threshold alerts that only its first half implies.
    """
    started = time.perf_counter()
    async with session_factory(engine)() as session, session.begin():
        state = await _locked_state(session)
        fresh = (
            state.projected_version == state.log_version
            and state.evaluation_day == evaluation_day
            and state.window_days == window_days
            and (state.alerts_version == state.log_version or not record_alerts)
        )
        if fresh and not force:
            return ProjectionOutcome(True, evaluation_day, state.log_version)
        log = await load_log(session)
        registry = await load_registry(session)
        roles = {slug: e.role for slug, e in registry.items()}
        projection = project(log, roles, evaluation_day, window_days, rules.thresholds)
        await _write_tables(session, projection, registry)
        change = OutboxChange(0, 0)
        if record_alerts:
            change = await sync_outbox(
                session,
                projection.alerts,
                rules,
                now or dt.datetime.now(dt.UTC),
                set(projection.retracted_event_ids),
            )
        digest = digest_of(projection)
        alerts_version = state.log_version if record_alerts else state.alerts_version
        await session.execute(
            update(ProjectionState)
            .where(ProjectionState.id == 1)
            .values(
                projected_version=state.log_version,
                alerts_version=alerts_version,
                evaluation_day=evaluation_day,
                window_days=window_days,
                digest=digest,
                projected_at=dt.datetime.now(dt.UTC),
            )
        )
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
    )


async def _locked_state(session: AsyncSession) -> ProjectionState:
    """The state row, write-locked first so that concurrent projectors take turns."""
    await lock_state(session)
    row = (await session.execute(select(ProjectionState).where(ProjectionState.id == 1))).one()
    return row[0]


async def _replace(session: AsyncSession, model, rows: list[dict], *where) -> None:
    await session.execute(delete(model).where(*where) if where else delete(model))
    if rows:
        await session.execute(insert(model), rows)


async def _write_tables(
    session: AsyncSession, projection: Projection, registry: dict[str, RegistryEntry]
) -> None:
    window = projection.window_days
    series = projection.series
    await _replace(
        session,
        Consolidation,
        [
            {
                "as_of": r.as_of,
                "window_days": r.window_days,
                "idx": r.idx,
                "hhi": r.hhi,
                "incumbent_capital_usd": r.incumbent_capital_usd,
                "total_capital_usd": r.total_capital_usd,
                "absorptions": r.absorptions,
            }
            for r in series
        ],
        Consolidation.window_days == window,
    )
    await _replace(
        session,
        ConsolidationByIncumbent,
        [
            {"as_of": r.as_of, "incumbent": name, "capital_usd": capital}
            for r in series
            for name, capital in r.by_incumbent
        ],
    )
    await _replace(
        session,
        Watchlist,
        [
            {
                "company": s.company,
                "status": s.status,
                "monthly_burn_usd": s.monthly_burn_usd,
                "cash_usd": s.cash_usd,
                "runway_months": s.runway_months,
                "as_of": s.as_of,
            }
            for s in projection.watchlist
        ],
    )
    await _replace(
        session,
        Company,
        [
            {
                "slug": c.slug,
                "name": _attr(registry, c.slug, "name"),
                "role": _attr(registry, c.slug, "role"),
                "country": _attr(registry, c.slug, "country"),
                "total_raised_usd": c.total_raised_usd,
                "last_valuation_usd": c.last_valuation_usd,
                "status": c.status,
                "absorbed_by": c.absorbed_by,
            }
            for c in projection.companies
        ],
    )
    await _replace(
        session,
        Deal,
        [
            {
                "record_id": d.record_id,
                "kind": d.kind,
                "date": d.date,
                "company": d.company,
                "counterparties": json.dumps(list(d.counterparties)),
                "amount_usd": d.amount_usd,
                "reverse_acquihire": d.reverse_acquihire,
                "source": d.source,
            }
            for d in projection.deals
        ],
    )
    await _replace(
        session,
        ProjectionIssue,
        [{"seq": i, "message": m} for i, m in enumerate(projection.issues)],
    )


def _attr(registry: dict[str, RegistryEntry], slug: str, name: str) -> str | None:
    entry = registry.get(slug)
    return getattr(entry, name) if entry else None
