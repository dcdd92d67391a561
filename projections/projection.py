"""Everything the log implies as of one evaluation day: the single function both the live
worker and the audit replay call, so they agree byte for byte."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from dealwatch.events.serialization import canonical_json
from dealwatch.projections.burn import CompanyStatus, statuses
from dealwatch.projections.consolidation import ConsolidationRow, consolidation_series
from dealwatch.projections.effective import LoggedEvent, effective_view
from dealwatch.projections.ledger import CompanyFacts, DealRow, company_facts, deal_rows
from dealwatch.projections.rules import (
    AlertCandidate,
    record_alerts,
    status_alerts,
    threshold_alerts,
)
from dealwatch.projections.thresholds import Thresholds


@dataclass(frozen=True)
class Projection:
    """The consolidation series, the watchlist and the alerts, as of `evaluation_day`."""

    evaluation_day: dt.date
    window_days: int
    known_at: dt.date | None
    series: list[ConsolidationRow]
    watchlist: list[CompanyStatus]
    alerts: list[AlertCandidate]
    companies: list[CompanyFacts] = field(default_factory=list)
    deals: list[DealRow] = field(default_factory=list)
    retracted_event_ids: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> bytes:
        """Canonical JSON bytes, the form audits compare."""
        return canonical_json(_jsonable(self.to_dict()))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def project(
    events: Iterable[LoggedEvent],
    roles: Mapping[str, str],
    evaluation_day: dt.date,
    window_days: int = 365,
    thresholds: Thresholds | None = None,
    known_at: dt.date | None = None,
) -> Projection:
    """Project the log: effective view (§2), consolidation (§3), watchlist (§4), alerts (§5)."""
    thresholds = thresholds or Thresholds()
    view = effective_view(events, known_at)
    records = [r for r in view.records.values() if r.date <= evaluation_day]
    records.sort(key=lambda r: (r.date, r.id))
    series = consolidation_series(records, roles, evaluation_day, window_days)
    watchlist = statuses(records, evaluation_day)
    movers: dict[dt.date, list[str]] = defaultdict(list)
    for r in records:
        movers[r.date].extend(view.lineage[r.id])
    alerts = [
        *record_alerts(records, view.lineage, roles, thresholds),
        *threshold_alerts(series, {d: tuple(ids) for d, ids in movers.items()}, thresholds),
        *status_alerts(watchlist, view.lineage, thresholds),
    ]
    alerts.sort(key=lambda a: (a.as_of, a.rule, a.alert_key))
    retracted = sorted({i for ids in view.retracted.values() for i in ids})
    return Projection(
        evaluation_day,
        window_days,
        known_at,
        series,
        watchlist,
        alerts,
        companies=company_facts(records, roles.keys(), watchlist),
        deals=deal_rows(records),
        retracted_event_ids=retracted,
        issues=view.issues,
    )
