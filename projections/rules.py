"""Alert rule evaluation (spec §5): which alerts the effective view implies, with dedup keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dealwatch.events.records import Acquisition, FeedRecord, Funding, Layoff, Licensing, Probe
from dealwatch.projections.attribution import INCUMBENT, Roles
from dealwatch.projections.burn import CompanyStatus
from dealwatch.projections.consolidation import ConsolidationRow
from dealwatch.projections.thresholds import Thresholds

MARKET = "market"


@dataclass(frozen=True)
class AlertCandidate:
    """An alert the events imply; `alert_key` makes it once-only."""

    alert_key: str
    rule: str
    subject: str
    as_of: dt.date
    title: str
    facts: tuple[tuple[str, str], ...]
    source: str | None
    lineage: tuple[str, ...]


def _usd(value: float | None, missing: str = "undisclosed") -> str:
    if value is None:
        return missing
    sign, value = ("-" if value < 0 else ""), abs(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{sign}${value / size:,.2f}{unit}"
    return f"{sign}${value:,.0f}"


def _record_rule(
    record: FeedRecord, roles: Roles, t: Thresholds
) -> tuple[str, str, list[tuple[str, str]]] | None:
    """(rule, title, facts) for a record that fires a per-record rule."""
    c = record.company
    if isinstance(record, Funding) and record.amount_usd >= t.mega_round_usd:
        investors = ", ".join(record.investors) or "undisclosed"
        return (
            "mega_round",
            f"Mega round: {c} raised {_usd(record.amount_usd)}",
            [
                ("Amount", _usd(record.amount_usd)),
                ("Investors", investors),
                ("Valuation", _usd(record.valuation_usd)),
            ],
        )
    if (
        isinstance(record, Licensing)
        and roles.get(record.licensee) == INCUMBENT
        and ((record.staff_moved_pct or 0) >= t.acquihire_staff_pct or record.founders_joined)
    ):
        staff = "n/a" if record.staff_moved_pct is None else f"{record.staff_moved_pct:g}%"
        return (
            "reverse_acquihire",
            f"Reverse acquihire: {record.licensee} licensed {c}",
            [
                ("Licensee", record.licensee),
                ("Fee", _usd(record.fee_usd)),
                ("Staff moved", staff),
                ("Founders joined", "yes" if record.founders_joined else "no"),
            ],
        )
    if isinstance(record, Acquisition) and roles.get(record.acquirer) == INCUMBENT:
        return (
            "incumbent_acquisition",
            f"Acquisition: {record.acquirer} acquired {c}",
            [("Acquirer", record.acquirer), ("Price", _usd(record.price_usd))],
        )
    if isinstance(record, Layoff) and (
        (record.pct or 0) >= t.layoff_pct or (record.headcount or 0) >= t.layoff_headcount
    ):
        pct = "n/a" if record.pct is None else f"{record.pct:g}%"
        return (
            "major_layoff",
            f"Major layoff at {c}",
            [("Share of staff", pct), ("Headcount", str(record.headcount or "n/a"))],
        )
    if isinstance(record, Probe) and record.action in t.probe_actions:
        parties = ", ".join(record.parties) or c
        return (
            "probe_opened",
            f"Probe {record.action}: {record.authority or 'regulator'} on {c}",
            [
                ("Authority", record.authority or "n/a"),
                ("Action", record.action or "n/a"),
                ("Parties", parties),
                ("Deal", record.deal or "n/a"),
            ],
        )
    return None


def may_fire(record: FeedRecord, t: Thresholds) -> bool:
    """Whether a per-record rule can fire for `record`, whatever the registry says and
    whatever the evaluation day (licensing and acquisitions read roles: always). The
    incremental fold queues for the alert pass only records that may fire, now or before,
    so that a backlog's alert pass reads those alone."""
    if isinstance(record, (Licensing, Acquisition)):
        return True
    hit = _record_rule(record, {}, t)
    return hit is not None and hit[0] in t.enabled


def record_alerts(
    records: Iterable[FeedRecord],
    lineage: Mapping[str, tuple[str, ...]],
    roles: Roles,
    t: Thresholds,
) -> list[AlertCandidate]:
    """Per-record rules: one alert per (rule, company, record id)."""
    found = []
    for record in records:
        hit = _record_rule(record, roles, t)
        if hit is None or hit[0] not in t.enabled:
            continue
        rule, title, facts = hit
        found.append(
            AlertCandidate(
                alert_key=f"{rule}:{record.company}:{record.id}",
                rule=rule,
                subject=record.company,
                as_of=record.date,
                title=title,
                facts=(("Date", record.date.isoformat()), *facts),
                source=record.source,
                lineage=lineage[record.id],
            )
        )
    return found


@dataclass(frozen=True)
class _Line:
    rule: str
    label: str
    fire: Callable[[float], bool]
    rearm: Callable[[float], bool]
    value: Callable[[ConsolidationRow], float]


def _lines(t: Thresholds) -> list[_Line]:
    return [
        _Line(
            "consolidation_high",
            "Consolidation index",
            lambda v: v >= t.consolidation_fire,
            lambda v: v < t.consolidation_rearm,
            lambda r: r.idx,
        ),
        _Line(
            "hhi_concentrated",
            "HHI",
            lambda v: v > t.hhi_fire,
            lambda v: v < t.hhi_rearm,
            lambda r: r.hhi,
        ),
    ]


def threshold_alerts(
    series: Sequence[ConsolidationRow], movers: Mapping[dt.date, tuple[str, ...]], t: Thresholds
) -> list[AlertCandidate]:
    """Crossings of the series with hysteresis: fire on crossing, re-arm below the lower line.

    An episode is keyed by the row that armed it, so the crossing found on the moving
    evaluation day keeps one key from day to day. `movers` gives, per day, the event ids
    that moved the series on that day (lineage).
    """
    found = []
    for line in _lines(t):
        if line.rule not in t.enabled:
            continue
        armed, armed_since, previous = True, "origin", None
        for row in series:
            value = line.value(row)
            if armed and line.fire(value):
                before = "n/a" if previous is None else f"{line.value(previous):g}"
                found.append(
                    AlertCandidate(
                        alert_key=f"{line.rule}:{MARKET}:armed-{armed_since}",
                        rule=line.rule,
                        subject=MARKET,
                        as_of=row.as_of,
                        title=f"{line.label} crossed its threshold: {value:g}",
                        facts=(
                            ("As of", row.as_of.isoformat()),
                            (line.label, f"{before} → {value:g}"),
                            ("Index", f"{row.idx:g}"),
                            ("HHI", str(row.hhi)),
                            ("Incumbent capital", _usd(row.incumbent_capital_usd)),
                            ("Window capital", _usd(row.total_capital_usd)),
                        ),
                        source=None,
                        lineage=movers.get(row.as_of, ()),
                    )
                )
                armed = False
            elif not armed and line.rearm(value):
                armed, armed_since = True, row.as_of.isoformat()
            previous = row
    return found


def status_alerts(
    statuses: Iterable[CompanyStatus], lineage: Mapping[str, tuple[str, ...]], t: Thresholds
) -> list[AlertCandidate]:
    """`runway_critical` / `runway_watch` for companies in that status on the evaluation day.

    The key names the records that decided the status, so the alert fires once per episode.
    """
    found = []
    for s in statuses:
        rule = {"critical": "runway_critical", "watch": "runway_watch"}.get(s.status)
        if rule is None or rule not in t.enabled:
            continue
        runway = "n/a" if s.runway_months is None else f"{s.runway_months:g} months"
        found.append(
            AlertCandidate(
                alert_key=f"{rule}:{s.company}:{'+'.join(s.basis)}",
                rule=rule,
                subject=s.company,
                as_of=s.as_of,
                title=f"{s.company} is now on the watchlist: {s.status}",
                facts=(
                    ("As of", s.as_of.isoformat()),
                    ("Runway", runway),
                    ("Monthly burn", _usd(s.monthly_burn_usd, "n/a")),
                    ("Cash", _usd(s.cash_usd, "n/a")),
                ),
                source=None,
                lineage=tuple(e for rid in s.basis for e in lineage.get(rid, ())),
            )
        )
    return found
