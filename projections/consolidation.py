"""The consolidation index, HHI and absorptions over a sliding window (spec §3)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from dealwatch.events.records import FeedRecord
from dealwatch.projections.attribution import (
    INCUMBENT,
    UNDISCLOSED,
    Roles,
    absorbed_by_incumbent,
    attributions,
)
from dealwatch.projections.numbers import MICROS, cents, round_half_up


@dataclass(frozen=True)
class ConsolidationRow:
    """One row of the `consolidation` table, with its per-incumbent breakdown."""

    as_of: dt.date
    window_days: int
    idx: float
    hhi: int
    incumbent_capital_usd: float
    total_capital_usd: float
    absorptions: int
    by_incumbent: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class _Entry:
    date: dt.date
    provider: str | None
    micros: int
    absorbed: str | None


class _Window:
    """Running sums over the records inside the window, updated as it slides."""

    def __init__(self, roles: Roles) -> None:
        self.roles = roles
        self.capital: Counter[str] = Counter()
        self.present: Counter[str] = Counter()
        self.absorbed: Counter[str] = Counter()
        self.total = self.incumbent = self.named = self.named_squares = 0

    def move(self, entry: _Entry, sign: int) -> None:
        if entry.absorbed:
            self.absorbed[entry.absorbed] += sign
        if entry.provider is None:
            return
        provider, amount = entry.provider, sign * entry.micros
        before = self.capital[provider]
        self.capital[provider] = before + amount
        self.present[provider] += sign
        self.total += amount
        if self.roles.get(provider) == INCUMBENT:
            self.incumbent += amount
        if provider != UNDISCLOSED:
            self.named += amount
            self.named_squares += (before + amount) ** 2 - before**2

    def row(self, as_of: dt.date, window_days: int) -> ConsolidationRow:
        idx = Fraction(100 * self.incumbent, self.total) if self.total else Fraction(0)
        hhi = Fraction(10_000 * self.named_squares, self.named**2) if self.named else Fraction(0)
        breakdown = tuple(
            (p, cents(self.capital[p], MICROS))
            for p in sorted(self.present)
            if self.present[p] > 0 and self.roles.get(p) == INCUMBENT
        )
        return ConsolidationRow(
            as_of=as_of,
            window_days=window_days,
            idx=round_half_up(idx, 1),
            hhi=int(round_half_up(hhi, 0)),
            incumbent_capital_usd=cents(self.incumbent, MICROS),
            total_capital_usd=cents(self.total, MICROS),
            absorptions=sum(1 for n in self.absorbed.values() if n > 0),
            by_incumbent=breakdown,
        )


def _entries(records: Iterable[FeedRecord], roles: Roles) -> list[_Entry]:
    entries: list[_Entry] = []
    for record in records:
        absorbed = record.company if absorbed_by_incumbent(record, roles) else None
        pairs = attributions(record)
        entries.extend(_Entry(record.date, p, m, None) for p, m in pairs)
        if absorbed:
            entries.append(_Entry(record.date, None, 0, absorbed))
    entries.sort(key=lambda e: e.date)
    return entries


def rows_at(
    records: Iterable[FeedRecord], roles: Roles, days: Sequence[dt.date], window_days: int
) -> Iterator[ConsolidationRow]:
    """The consolidation as of each of `days` (ascending), window `window_days`."""
    entries = _entries(records, roles)
    window = _Window(roles)
    added = removed = 0
    span = dt.timedelta(days=window_days)
    for day in days:
        while added < len(entries) and entries[added].date <= day:
            window.move(entries[added], +1)
            added += 1
        while removed < added and entries[removed].date <= day - span:
            window.move(entries[removed], -1)
            removed += 1
        yield window.row(day, window_days)


def series_days(records: Iterable[FeedRecord], evaluation_day: dt.date) -> list[dt.date]:
    """Every distinct event date up to the evaluation day, then the evaluation day."""
    return sorted({r.date for r in records if r.date <= evaluation_day} | {evaluation_day})


def consolidation_series(
    records: Sequence[FeedRecord], roles: Roles, evaluation_day: dt.date, window_days: int = 365
) -> list[ConsolidationRow]:
    """The consolidation series of spec §3."""
    return list(rows_at(records, roles, series_days(records, evaluation_day), window_days))


def consolidation_at(
    records: Sequence[FeedRecord], roles: Roles, day: dt.date, window_days: int = 365
) -> ConsolidationRow:
    """The consolidation as of one day."""
    return next(rows_at(records, roles, [day], window_days))
