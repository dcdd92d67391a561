"""The one global step: merge the queued per-day changes into the series, under a short lock.

Workers queue signed per-day changes (`series_changes`) in their own transactions and never
wait for each other; whoever merges takes the projection-state row lock only to add the
queued changes to `series_days` and rewrite the rows they move (at most one window from
each changed day), so the lock is held for the size of the change, not of the history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.projections.attribution import Roles
from dealwatch.projections.consolidation import ConsolidationRow
from dealwatch.projections.day_totals import DayTotals, SeriesDiff, SeriesState
from dealwatch.services.db.keyed import among
from dealwatch.services.db.log_mirror import upsert
from dealwatch.services.db.models import Consolidation, ConsolidationByIncumbent
from dealwatch.services.db.projection_rows import consolidation_row
from dealwatch.services.db.state_models import SeriesChange, SeriesDay
from dealwatch.services.projection.records import chunks


class SeriesMerger:
    """Keeps the per-day totals and rows in memory between merges (reloaded when another
    process merged since: `series_version`)."""

    def __init__(self) -> None:
        self.state: SeriesState | None = None
        self.version = -1
        self.window_days: int | None = None
        self.evaluation_day: dt.date | None = None

    async def load(self, session: AsyncSession) -> SeriesState:
        state = SeriesState()
        for day, text in await session.execute(select(SeriesDay.date, SeriesDay.totals)):
            state.totals[day] = DayTotals.from_json(text)
        return state

    async def merge(
        self,
        session: AsyncSession,
        roles: Roles,
        evaluation_day: dt.date,
        window_days: int,
        version: int,
        full: bool = False,
    ) -> tuple[SeriesDiff, int]:
        """Apply queued changes and write the rows they move; call with the state row locked.
        Returns the diff and the queued changes merged."""
        reload = self.state is None or self.version != version
        if reload:
            self.state = await self.load(session)
            full = True
        state = self.state
        assert state is not None
        if window_days != self.window_days or evaluation_day != self.evaluation_day:
            full = True
        queued = (
            await session.execute(select(SeriesChange.seq, SeriesChange.date, SeriesChange.totals))
        ).all()
        changes: dict[dt.date, DayTotals] = {}
        for _, day, text in queued:
            changes.setdefault(day, DayTotals()).merge(DayTotals.from_json(text))
        if queued:
            for part in chunks([seq for seq, _, _ in queued]):  # exactly those read
                await session.execute(
                    delete(SeriesChange).where(among(session, SeriesChange.seq, part))
                )
        changed = state.apply(changes)
        await self._write_totals(session, state, changed)
        if full:
            state.rows = await self._stored_rows(session, window_days)
        diff = state.refresh(roles, evaluation_day, window_days, None if full else changed)
        await self._write_rows(session, diff, full, window_days)
        self.version = version + 1
        self.window_days, self.evaluation_day = window_days, evaluation_day
        return diff, len(queued)

    async def _write_totals(self, session: AsyncSession, state: SeriesState, days: set) -> None:
        gone = [d for d in days if d not in state.totals]
        kept = [
            {"date": d, "totals": state.totals[d].to_json()}
            for d in sorted(days)
            if d in state.totals
        ]
        for part in chunks(gone):
            await session.execute(delete(SeriesDay).where(among(session, SeriesDay.date, part)))
        await upsert(session, SeriesDay, kept, ["date"])

    async def _stored_rows(self, session: AsyncSession, window_days: int) -> dict:
        """What the tables hold now, so a full refresh writes only what differs."""
        breakdown: dict[dt.date, list[tuple[str, float]]] = {}
        for as_of, name, capital in await session.execute(
            select(
                ConsolidationByIncumbent.as_of,
                ConsolidationByIncumbent.incumbent,
                ConsolidationByIncumbent.capital_usd,
            )
        ):
            breakdown.setdefault(as_of, []).append((name, capital))
        rows = {}
        result = await session.execute(
            select(Consolidation).where(Consolidation.window_days == window_days)
        )
        for r in result.scalars():
            rows[r.as_of] = ConsolidationRow(
                r.as_of,
                r.window_days,
                r.idx,
                r.hhi,
                r.incumbent_capital_usd,
                r.total_capital_usd,
                r.absorptions,
                tuple(sorted(breakdown.get(r.as_of, []))),
            )
        return rows

    async def _write_rows(
        self, session: AsyncSession, diff: SeriesDiff, full: bool, window_days: int
    ) -> None:
        if full:  # rows of another window, or breakdowns without a row, do not survive
            await session.execute(
                delete(Consolidation).where(Consolidation.window_days != window_days)
            )
        days = sorted({*diff.deletes, *(r.as_of for r in diff.upserts)})
        for part in chunks(diff.deletes):
            await session.execute(
                delete(Consolidation).where(
                    among(session, Consolidation.as_of, part),
                    Consolidation.window_days == window_days,
                )
            )
        for part in chunks(days):
            await session.execute(
                delete(ConsolidationByIncumbent).where(
                    among(session, ConsolidationByIncumbent.as_of, part)
                )
            )
        await upsert(
            session,
            Consolidation,
            [consolidation_row(r) for r in diff.upserts],
            ["as_of", "window_days"],
        )
        breakdown = [
            {"as_of": r.as_of, "incumbent": name, "capital_usd": capital}
            for r in diff.upserts
            for name, capital in r.by_incumbent
        ]
        if breakdown:
            await session.execute(insert(ConsolidationByIncumbent.__table__), breakdown)
