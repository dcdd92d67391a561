"""What people read from the projections: the index at a day, the watchlist, a company, a
deal with its corrections. One set of read-only queries, so `dealwatch show` and the Slack desk
(`/dealwatch`, App Home) print the same numbers."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from dealwatch.projections.consolidation import ConsolidationRow
from dealwatch.services.db.engine import backend
from dealwatch.services.db.readonly import QueryResult, run_readonly

WATCH_ORDER = (
    "CASE status WHEN 'critical' THEN 0 WHEN 'watch' THEN 1 WHEN 'ok' THEN 2 "
    "WHEN 'profitable' THEN 3 ELSE 4 END"
)


def query(url: str, statement: str, **params: Any) -> QueryResult:
    """A read-only query with `:name` parameters on either database."""
    if backend(url) == "postgresql":
        statement = re.sub(r":(\w+)", r"%(\1)s", statement)
    return run_readonly(url, statement, params)


def billions(value: float | None) -> str:
    return "-" if value is None else f"${value / 1e9:,.2f}B"


def money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value / 1e6:,.1f}M" if abs(value) < 1e9 else billions(value)


def share(row: ConsolidationRow, capital: float) -> str:
    """An incumbent's capital as a share of the window's total, as `show` prints it."""
    total = row.total_capital_usd
    return f"{100 * capital / total:.1f}%" if total else "-"


def index_at(url: str, as_of: dt.date | None = None) -> ConsolidationRow | None:
    """The `consolidation` row on or before a day (the latest without one), with its
    breakdown by incumbent."""
    day = (as_of or dt.date.max).isoformat()
    rows = query(
        url,
        "SELECT as_of, window_days, idx, hhi, incumbent_capital_usd, total_capital_usd, "
        "absorptions FROM consolidation WHERE as_of <= :day ORDER BY as_of DESC LIMIT 1",
        day=day,
    ).rows
    if not rows:
        return None
    at, *figures = rows[0]
    breakdown = query(
        url,
        "SELECT incumbent, capital_usd FROM consolidation_by_incumbent "
        "WHERE as_of = :at ORDER BY capital_usd DESC, incumbent",
        at=at,
    ).rows
    day = at if isinstance(at, dt.date) else dt.date.fromisoformat(str(at))
    return ConsolidationRow(day, *figures, by_incumbent=tuple(tuple(r) for r in breakdown))


def watchlist(url: str, status: str | None = None) -> list[tuple]:
    """(company, status, monthly burn, cash, runway months, as of), critical and watch first."""
    where = "WHERE status = :status " if status else ""
    return query(
        url,
        "SELECT company, status, monthly_burn_usd, cash_usd, runway_months, as_of "
        f"FROM watchlist {where}ORDER BY {WATCH_ORDER}, runway_months, company",
        **({"status": status} if status else {}),
    ).rows


def company_facts(url: str, slug: str) -> QueryResult:
    return query(
        url,
        "SELECT slug, name, role, country, total_raised_usd, last_valuation_usd, "
        "status, absorbed_by FROM companies WHERE slug = :slug",
        slug=slug,
    )


def company_deals(url: str, slug: str) -> QueryResult:
    return query(
        url,
        "SELECT date, kind, record_id, counterparties, amount_usd, source FROM deals "
        "WHERE company = :slug ORDER BY date, record_id",
        slug=slug,
    )


def runway(url: str, slug: str) -> tuple | None:
    rows = query(
        url,
        "SELECT status, monthly_burn_usd, cash_usd, runway_months, as_of FROM watchlist "
        "WHERE company = :slug",
        slug=slug,
    ).rows
    return tuple(rows[0]) if rows else None


@dataclass(frozen=True)
class DealView:
    """One record: its effective fields, the events that made it (the record and its
    corrections, in log order) and their lineage."""

    record_id: str
    record: dict[str, Any] | None
    retracted: bool
    lineage: list[str]
    events: list[dict[str, Any]]


def deal(url: str, record_id: str) -> DealView | None:
    rows = query(
        url,
        "SELECT record, retracted, lineage FROM record_state WHERE record_id = :rid",
        rid=record_id,
    ).rows
    if not rows:
        return None
    text, retracted, lineage = rows[0]
    events = query(
        url,
        "SELECT event_id, kind, reported, payload FROM events "
        "WHERE record_id = :rid OR target_id = :rid ORDER BY reported, topic, partition, "
        '"offset"',
        rid=record_id,
    ).rows
    return DealView(
        record_id,
        json.loads(text) if text else None,
        bool(retracted),
        json.loads(lineage),
        [
            {"event_id": e, "kind": k, "reported": str(r), "record": json.loads(p)["record"]}
            for e, k, r, p in events
        ],
    )


def lineage_sources(url: str, event_ids: list[str]) -> list[tuple[str, str, str]]:
    """(event id, record id, source) of each lineage event: why an alert fired."""
    found = []
    for event_id in event_ids:
        rows = query(
            url, "SELECT record_id, payload FROM events WHERE event_id = :eid", eid=event_id
        ).rows
        if rows:
            record_id, payload = rows[0]
            record = json.loads(payload)["record"]  # the envelope as the log holds it
            found.append((event_id, record_id, record.get("source") or "-"))
    return found
