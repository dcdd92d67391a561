"""The consolidation series from per-day totals (spec §3), updated by the records that change.

A record adds its capital (per provider) and absorptions to the totals of its date. A row as
of D sums the totals of the days in (D - W, D], so a record dated d moves only the rows in
[d, d + W): a late event a year back touches at most one window of rows. `project()` is the
specification; the property tests prove `SeriesState` gives its rows exactly.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dealwatch.events.records import Acquisition, FeedRecord, Licensing
from dealwatch.projections.attribution import (
    INCUMBENT,
    UNDISCLOSED,
    Roles,
    attributions,
    is_reverse_acquihire,
)
from dealwatch.projections.consolidation import ConsolidationRow, _Window


@dataclass
class DayTotals:
    """What the effective records of one day contribute (or, signed, a change to it)."""

    records: int = 0
    capital: dict[str, list[int]] = field(default_factory=dict)  # provider -> [micros, entries]
    absorbed: dict[tuple[str, str], int] = field(default_factory=dict)  # (startup, by) -> records

    def add(self, record: FeedRecord, sign: int = 1) -> None:
        """Add (sign +1) or remove (-1) one record's contribution."""
        self.records += sign
        for provider, micros in attributions(record):
            totals = self.capital.setdefault(provider, [0, 0])
            totals[0] += sign * micros
            totals[1] += sign
        absorber = _absorber(record)
        if absorber is not None:
            pair = (record.company, absorber)
            self.absorbed[pair] = self.absorbed.get(pair, 0) + sign

    def merge(self, other: DayTotals) -> None:
        self.records += other.records
        for provider, (micros, entries) in other.capital.items():
            totals = self.capital.setdefault(provider, [0, 0])
            totals[0] += micros
            totals[1] += entries
        for pair, n in other.absorbed.items():
            self.absorbed[pair] = self.absorbed.get(pair, 0) + n
        self.capital = {p: t for p, t in self.capital.items() if t != [0, 0]}
        self.absorbed = {p: n for p, n in self.absorbed.items() if n}

    def is_empty(self) -> bool:
        return self.records == 0 and not self.capital and not self.absorbed

    def to_json(self) -> str:
        """Exact text (micro-dollars as strings: sums may pass 64 bits)."""
        return json.dumps(
            {
                "records": self.records,
                "capital": {p: [str(m), n] for p, (m, n) in sorted(self.capital.items())},
                "absorbed": [[c, a, n] for (c, a), n in sorted(self.absorbed.items())],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> DayTotals:
        data = json.loads(text)
        return cls(
            data["records"],
            {p: [int(m), n] for p, (m, n) in data["capital"].items()},
            {(c, a): n for c, a, n in data["absorbed"]},
        )


def _absorber(record: FeedRecord) -> str | None:
    """Who may absorb the startup by this record (an incumbent role decides, per window)."""
    if isinstance(record, Acquisition):
        return record.acquirer
    if isinstance(record, Licensing) and is_reverse_acquihire(record):
        return record.licensee
    return None


def changes_of(
    removed: Iterable[FeedRecord], added: Iterable[FeedRecord]
) -> dict[dt.date, DayTotals]:
    """Signed per-day changes: records that left the effective view and records that entered."""
    changes: dict[dt.date, DayTotals] = {}
    for sign, records in ((-1, removed), (1, added)):
        for record in records:
            changes.setdefault(record.date, DayTotals()).add(record, sign)
    return changes


def _move_day(window: _Window, roles: Roles, totals: DayTotals, sign: int) -> None:
    for provider, (micros, entries) in totals.capital.items():
        amount = sign * micros
        before = window.capital[provider]
        window.capital[provider] = before + amount
        window.present[provider] += sign * entries
        window.total += amount
        if roles.get(provider) == INCUMBENT:
            window.incumbent += amount
        if provider != UNDISCLOSED:
            window.named += amount
            window.named_squares += (before + amount) ** 2 - before**2
    for (startup, absorber), n in totals.absorbed.items():
        if roles.get(absorber) == INCUMBENT:
            window.absorbed[startup] += sign * n


def rows_from_totals(
    totals: Mapping[dt.date, DayTotals], roles: Roles, days: list[dt.date], window_days: int
) -> list[ConsolidationRow]:
    """The consolidation as of each of `days` (ascending) from per-day totals."""
    if not days:
        return []
    span = dt.timedelta(days=window_days)
    keys = sorted(totals)
    start = bisect.bisect_right(keys, days[0] - span)
    window = _Window(roles)
    window.absorbed = Counter()
    added = removed = start
    rows = []
    for day in days:
        while added < len(keys) and keys[added] <= day:
            _move_day(window, roles, totals[keys[added]], +1)
            added += 1
        while removed < added and keys[removed] <= day - span:
            _move_day(window, roles, totals[keys[removed]], -1)
            removed += 1
        rows.append(window.row(day, window_days))
    return rows


@dataclass
class SeriesDiff:
    """Rows to write and days whose row goes, after a change."""

    upserts: list[ConsolidationRow]
    deletes: list[dt.date]


@dataclass
class SeriesState:
    """Per-day totals and the series rows they give, kept between changes."""

    totals: dict[dt.date, DayTotals] = field(default_factory=dict)
    rows: dict[dt.date, ConsolidationRow] = field(default_factory=dict)

    def apply(self, changes: Mapping[dt.date, DayTotals]) -> set[dt.date]:
        """Add signed changes to the totals; returns the days they touched."""
        for day, change in changes.items():
            totals = self.totals.setdefault(day, DayTotals())
            totals.merge(change)
            if totals.records == 0:
                del self.totals[day]
        return set(changes)

    def series_days(self, evaluation_day: dt.date) -> list[dt.date]:
        """Every day with an effective record up to the evaluation day, then that day."""
        return sorted({d for d in self.totals if d <= evaluation_day} | {evaluation_day})

    def refresh(
        self,
        roles: Roles,
        evaluation_day: dt.date,
        window_days: int,
        changed: set[dt.date] | None = None,
    ) -> SeriesDiff:
        """Recompute the rows `changed` days can move (all rows when None)."""
        days = self.series_days(evaluation_day)
        if changed is not None:
            span = dt.timedelta(days=window_days)
            relevant = [d for d in changed if d <= evaluation_day]
            if not relevant and evaluation_day in self.rows:
                days = []
            elif relevant:
                low, high = min(relevant), max(relevant) + span
                days = [d for d in days if low <= d < high or d not in self.rows]
            else:
                days = [evaluation_day]
        wanted = set(self.series_days(evaluation_day))
        deletes = sorted(d for d in self.rows if d not in wanted)
        for d in deletes:
            del self.rows[d]
        upserts = []
        for row in rows_from_totals(self.totals, roles, days, window_days):
            if self.rows.get(row.as_of) != row:
                self.rows[row.as_of] = row
                upserts.append(row)
        return SeriesDiff(upserts, deletes)

    def series(self) -> list[ConsolidationRow]:
        return [self.rows[d] for d in sorted(self.rows)]
