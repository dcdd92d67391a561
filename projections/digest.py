"""The periodic digest: how the picture changed over the last days (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from events.records import FeedRecord, Probe
from projections.attribution import absorbed_by_incumbent, absorbs
from projections.burn import statuses
from projections.consolidation import consolidation_at
from projections.effective import LoggedEvent, effective_view

OPEN_ACTIONS = ("opened", "expanded")


@dataclass(frozen=True)
class Digest:
    day: dt.date
    since: dt.date
    idx_now: float
    idx_then: float
    hhi_now: int
    hhi_then: int
    status_changes: tuple[tuple[str, str, str], ...]  # (company, before, now)
    new_absorptions: tuple[tuple[str, str, dt.date], ...]  # (company, by, date)
    open_probes: tuple[tuple[str, str, str], ...]  # (company, authority, action)

    def title(self) -> str:
        return f"dealwatch digest {self.since} to {self.day}"

    def facts(self) -> tuple[tuple[str, str], ...]:
        changes = ", ".join(f"{c}: {a} → {b}" for c, a, b in self.status_changes) or "none"
        absorbed = ", ".join(f"{c} by {by} ({d})" for c, by, d in self.new_absorptions) or "none"
        probes = ", ".join(f"{c} ({a} {act})" for c, a, act in self.open_probes) or "none"
        return (
            ("Index", f"{self.idx_then:.1f} → {self.idx_now:.1f}"),
            ("HHI", f"{self.hhi_then:,} → {self.hhi_now:,}"),
            ("Watchlist changes", changes),
            ("New absorptions", absorbed),
            ("Open probes", probes),
        )


def _absorber(record: FeedRecord) -> str:
    return getattr(record, "acquirer", None) or getattr(record, "licensee", "?")


def _open_probes(records: Iterable[FeedRecord]) -> list[tuple[str, str, str]]:
    latest: dict[tuple[str, str], Probe] = {}
    for r in sorted((r for r in records if isinstance(r, Probe)), key=lambda r: (r.date, r.id)):
        latest[(r.company, r.deal or r.authority or "")] = r
    return sorted(
        (p.company, p.authority or "?", p.action or "?")
        for p in latest.values()
        if p.action in OPEN_ACTIONS
    )


def digest(
    events: Iterable[LoggedEvent],
    roles: Mapping[str, str],
    day: dt.date,
    days: int = 30,
    window_days: int = 365,
) -> Digest:
    """Index and HHI now and `days` ago, watchlist moves, absorptions and open probes."""
    since = day - dt.timedelta(days=days)
    records = [r for r in effective_view(events).records.values() if r.date <= day]
    before = [r for r in records if r.date <= since]
    now_row = consolidation_at(records, roles, day, window_days)
    then_row = consolidation_at(before, roles, since, window_days)
    was = {s.company: s.status for s in statuses(before, since)}
    now = {s.company: s.status for s in statuses(records, day)}
    changes = tuple(
        sorted(
            (c, was.get(c, "unknown"), now.get(c, "unknown"))
            for c in set(was) | set(now)
            if was.get(c, "unknown") != now.get(c, "unknown")
        )
    )
    absorbed = tuple(
        sorted(
            (r.company, _absorber(r), r.date)
            for r in records
            if since < r.date <= day and absorbs(r) and absorbed_by_incumbent(r, roles)
        )
    )
    return Digest(
        day,
        since,
        now_row.idx,
        then_row.idx,
        now_row.hhi,
        then_row.hhi,
        changes,
        absorbed,
        tuple(_open_probes(records)),
    )
