"""Keep the projection tables current, incrementally (services/projection/).

Each mirrored batch already folded its own records and companies (in the worker that owns
their partitions). A projector tick does the rest, under the projection-state row lock held
only for the size of the change: merge the queued per-day changes into the series, follow a
new evaluation day or registry change, and — once the log is read — derive the alerts of
what changed. `projections.project()` is the specification; tests prove the tables equal it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dealwatch.alerts.rules_config import RulesConfig
from dealwatch.services.db.engine import session_factory
from dealwatch.services.db.log_mirror import lock_state
from dealwatch.services.db.models import ProjectionState, RegistryEntry, Watchlist
from dealwatch.services.db.state_models import PendingCheck, RecordState
from dealwatch.services.projection import alerting
from dealwatch.services.projection.refresh_pool import RefreshPool
from dealwatch.services.projection.series import SeriesMerger
from dealwatch.services.projection.stale import refresh_stale, stale_count
from dealwatch.services.projection.upkeep import (
    FORMAT,
    refold_everything,
    registry_changed,
    rewrite_issues,
    roll_over,
    set_state,
)

ALERT_CHUNK = 5_000


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


async def load_registry(session: AsyncSession) -> dict[str, RegistryEntry]:
    result = await session.execute(select(RegistryEntry))
    return {e.slug: e for e in result.scalars()}


async def _locked_state(session: AsyncSession) -> ProjectionState:
    await lock_state(session)
    row = (await session.execute(select(ProjectionState).where(ProjectionState.id == 1))).one()
    return row[0]


class Projector:
    """One per process, reused from tick to tick (it keeps the series totals in memory)."""

    def __init__(
        self, engine: AsyncEngine, rules: RulesConfig, refresh_pool: RefreshPool | None = None
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.merger = SeriesMerger()
        self.refresh_pool = refresh_pool
        """Processes that read and compute large company refreshes (projection/refresh_pool)."""

    async def run(
        self,
        evaluation_day: dt.date,
        window_days: int = 365,
        *,
        record_alerts: bool = True,
        force: bool = False,
        now: dt.datetime | None = None,
        count: bool = False,
        refresh_stale: bool | None = None,
        partitions: Collection[int] | None = None,
    ) -> ProjectionOutcome:
        """Merge, follow the day and the registry, refresh the companies a backlog queued
        (`refresh_stale`, by default with alerts; those of `partitions`, all when None), and
        (with `record_alerts`, once the log is read) derive alerts for what changed. Alerts
        wait while a backlog is read, so that half a backlog never fires what the whole does
        not imply."""
        if refresh_stale is None:
            refresh_stale = record_alerts
        try:
            return await self._run(
                evaluation_day,
                window_days,
                record_alerts,
                force,
                now,
                count,
                partitions if refresh_stale else (),
            )
        except BaseException:
            self.merger.state = None  # the cached totals may be ahead of a rolled-back merge
            raise

    async def _run(
        self,
        evaluation_day: dt.date,
        window_days: int,
        record_alerts: bool,
        force: bool,
        now: dt.datetime | None,
        count: bool,
        stale_partitions: Collection[int] | None,
    ) -> ProjectionOutcome:
        started = time.perf_counter()
        now = now or dt.datetime.now(dt.UTC)
        sessions = session_factory(self.engine)
        async with sessions() as session, session.begin():
            state = await _locked_state(session)
            work = await self._upkeep(session, state, evaluation_day, window_days, force)
            roles = {slug: e.role for slug, e in (await load_registry(session)).items()}
            diff, merged = await self.merger.merge(
                session, roles, evaluation_day, window_days, state.series_version, work
            )
            issues = await rewrite_issues(session)
            added = 0
            if record_alerts:
                added = await alerting.check_thresholds(
                    session, self.merger.state.series(), self.rules, now
                )
            await set_state(
                session,
                state_format=FORMAT,
                series_version=self.merger.version,
                evaluation_day=evaluation_day,
                window_days=window_days,
                projected_version=state.log_version,
                alerts_version=state.log_version if record_alerts else state.alerts_version,
                projected_at=dt.datetime.now(dt.UTC),
            )
        refreshed = 0
        if stale_partitions is None or stale_partitions:
            refreshed = await refresh_stale(
                self.engine, evaluation_day, stale_partitions, pool=self.refresh_pool
            )
        changed = work or merged or diff.upserts or diff.deletes or issues or added or refreshed
        cancelled = 0
        if record_alerts:
            more_added, cancelled, checked = await self._alert_pass(roles, evaluation_day, now)
            added += more_added
            changed = changed or checked
        if not changed:
            return ProjectionOutcome(True, evaluation_day, state.log_version)
        records = watch = 0
        if count:  # a full count of big tables: for tools, not the live path
            async with sessions() as session:
                records = await session.scalar(select(func.count()).select_from(RecordState))
                watch = await session.scalar(select(func.count()).select_from(Watchlist))
        return ProjectionOutcome(
            False,
            evaluation_day,
            state.log_version,
            events=records or 0,
            series_rows=len(self.merger.state.rows),
            watchlist=watch or 0,
            alerts_added=added,
            alerts_cancelled=cancelled,
            seconds=time.perf_counter() - started,
            rows_written=len(diff.upserts) + len(diff.deletes),
        )

    async def _upkeep(
        self,
        session: AsyncSession,
        state: ProjectionState,
        day: dt.date,
        window_days: int,
        force: bool,
    ) -> bool:
        """A format change, a new day or window, registry changes; True when the whole series
        must be refreshed."""
        full = force
        if state.state_format != FORMAT:
            await refold_everything(session, day)
            self.merger.state = None  # the totals were rebuilt: reload them
            full = True
        elif state.evaluation_day is not None and state.evaluation_day != day:
            await roll_over(session, state.evaluation_day, day)
            full = True
        if await registry_changed(session, day):
            full = True
        return full or state.window_days != window_days

    async def _alert_pass(
        self, roles: dict[str, str], day: dt.date, now: dt.datetime
    ) -> tuple[int, int, int]:
        """Derive the alerts of queued records and companies, in chunked transactions."""
        threshold_keys = {
            c.alert_key
            for c in alerting.threshold_candidates(self.merger.state.series(), self.rules)
        }
        added = cancelled = checked = 0
        sessions = session_factory(self.engine)
        while True:
            async with sessions() as session, session.begin():

                async def derived(key: str, session=session) -> bool:
                    return key in threshold_keys or await alerting.status_derived(session, key)

                companies = await alerting.check_companies(session, self.rules, now, ALERT_CHUNK)
                records = await alerting.check_records(
                    session, self.rules, roles, day, now, ALERT_CHUNK, derived
                )
            added += companies.added + records.added
            cancelled += records.cancelled
            checked += companies.checked + records.checked
            if companies.checked < ALERT_CHUNK and records.checked < ALERT_CHUNK:
                return added, cancelled, checked


async def pending_work(session: AsyncSession) -> bool:
    """Anything folded but not yet merged, companies not yet refreshed, or work queued for
    the alert pass."""
    from dealwatch.services.db.state_models import SeriesChange

    queued = await session.scalar(select(func.count()).select_from(SeriesChange))
    checks = await session.scalar(select(func.count()).select_from(PendingCheck))
    return bool(queued or checks or await stale_count(session))


async def run_projection(
    engine: AsyncEngine,
    rules: RulesConfig,
    evaluation_day: dt.date,
    window_days: int = 365,
    **options,
) -> ProjectionOutcome:
    """One projection with a fresh projector (tools and tests; workers keep a `Projector`)."""
    return await Projector(engine, rules).run(evaluation_day, window_days, **options)
