"""The periodic digest: how the picture changed over the last days (pure).

`digest()` is the specification, over the whole log. What it says of one company depends on
that company's effective records alone (`company_digest`), and the index and HHI are two
consolidation rows, so the scheduler assembles the same digest from the tables a company at a
time (services/projection/digest.py), in memory bounded by one company's records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dealwatch.events.records import FeedRecord, Probe
from dealwatch.projections.attribution import absorbed_by_incumbent, absorbs
from dealwatch.projections.burn import company_status, statuses
from dealwatch.projections.consolidation import ConsolidationRow, consolidation_at
from dealwatch.projections.effective import LoggedEvent, effective_view

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

    @classmethod
    def between(
        cls,
        day: dt.date,
        since: dt.date,
        now_row: ConsolidationRow,
        then_row: ConsolidationRow,
        changes: tuple,
        absorbed: tuple,
        probes: tuple,
    ) -> Digest:
        """The digest from the consolidation rows at `day` and at `since`, and its lists."""
        return cls(
            day,
            since,
            now_row.idx,
            then_row.idx,
            now_row.hhi,
            then_row.hhi,
            changes,
            absorbed,
            probes,
        )

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
    return Digest.between(
        day, since, now_row, then_row, changes, absorbed, tuple(_open_probes(records))
    )


@dataclass(frozen=True)
class CompanyDigest:
    """What the digest says of one company: its status move, absorptions and open probes."""

    status_change: tuple[str, str, str] | None
    absorptions: tuple[tuple[str, str, dt.date], ...]
    open_probes: tuple[tuple[str, str, str], ...]


def company_digest(
    company: str,
    records: Sequence[FeedRecord],
    roles: Mapping[str, str],
    day: dt.date,
    since: dt.date,
) -> CompanyDigest:
    """`digest()`'s share for one company, from that company's effective records."""
    own = [r for r in records if r.date <= day]
    before = [r for r in own if r.date <= since]
    was = company_status(company, before, since).status if before else "unknown"
    now = company_status(company, own, day).status if own else "unknown"
    absorbed = tuple(
        (r.company, _absorber(r), r.date)
        for r in own
        if since < r.date <= day and absorbs(r) and absorbed_by_incumbent(r, roles)
    )
    return CompanyDigest(
        (company, was, now) if was != now else None, absorbed, tuple(_open_probes(own))
    )


def assemble(
    day: dt.date,
    since: dt.date,
    now_row: ConsolidationRow,
    then_row: ConsolidationRow,
    companies: Iterable[CompanyDigest],
) -> Digest:
    """The digest from the two consolidation rows and every company's share."""
    changes, absorbed, probes = [], [], []
    for part in companies:
        if part.status_change is not None:
            changes.append(part.status_change)
        absorbed.extend(part.absorptions)
        probes.extend(part.open_probes)
    return Digest.between(
        day, since, now_row, then_row, *(tuple(sorted(x)) for x in (changes, absorbed, probes))
    )
