"""Burn, cash, runway and status per company (spec §4)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from dealwatch.events.records import FeedRecord, Financials, Funding, Layoff
from dealwatch.projections.attribution import absorbs
from dealwatch.projections.numbers import cents, round_half_up, to_fraction

DAYS_PER_MONTH = Fraction("30.4375")
LAYOFF_LOOKBACK_DAYS = 180
WATCHLIST_STATUSES = ("critical", "watch")


@dataclass(frozen=True)
class CompanyStatus:
    """One row of the `watchlist` table, and the record ids that decided it."""

    company: str
    status: str
    monthly_burn_usd: float | None
    cash_usd: float | None
    runway_months: float | None
    as_of: dt.date
    basis: tuple[str, ...]


def _latest(records: Iterable[FeedRecord]) -> FeedRecord | None:
    """The latest record by date (ties: later known date, then id)."""
    return max(records, key=lambda r: (r.date, r.known_on, r.id), default=None)


def monthly_burn(financials: Financials | None) -> Fraction | None:
    """Net burn per month from a financials record, or None when it cannot be told."""
    if financials is None:
        return None
    f = financials
    if f.net_burn_annual_usd is not None:
        return to_fraction(f.net_burn_annual_usd) / 12
    if f.costs_annual_usd is not None and f.revenue_annual_usd is not None:
        return (to_fraction(f.costs_annual_usd) - to_fraction(f.revenue_annual_usd)) / 12
    if f.costs_annual_usd is not None:
        return to_fraction(f.costs_annual_usd) / 12
    return None


def _cash(records: list[FeedRecord], burn: Fraction, day: dt.date) -> tuple[Fraction, str] | None:
    with_cash = [r for r in records if isinstance(r, Financials) and r.cash_usd is not None]
    anchor = _latest(with_cash) or _latest(r for r in records if isinstance(r, Funding))
    if anchor is None:
        return None
    cash0 = to_fraction(anchor.cash_usd if isinstance(anchor, Financials) else anchor.amount_usd)  # type: ignore[arg-type]
    raised = sum(
        (
            to_fraction(r.amount_usd)
            for r in records
            if isinstance(r, Funding) and anchor.date < r.date <= day
        ),
        Fraction(0),
    )
    elapsed = (day - anchor.date).days
    return cash0 + raised - burn * elapsed / DAYS_PER_MONTH, anchor.id


def _recent_big_layoff(records: list[FeedRecord], day: dt.date) -> Layoff | None:
    start = day - dt.timedelta(days=LAYOFF_LOOKBACK_DAYS)
    layoffs = [
        r for r in records if isinstance(r, Layoff) and (r.pct or 0) >= 20 and start < r.date <= day
    ]
    return _latest(layoffs)  # type: ignore[return-value]


def company_status(company: str, records: list[FeedRecord], day: dt.date) -> CompanyStatus:
    """The status of one company as of `day`, from its effective records dated on or before it."""
    records = [r for r in records if r.date <= day]
    financials = _latest(r for r in records if isinstance(r, Financials))
    burn = monthly_burn(financials)  # type: ignore[arg-type]
    basis: list[str] = [financials.id] if burn is not None else []  # type: ignore[union-attr]
    cash = runway = None
    if burn is not None and (found := _cash(records, burn, day)) is not None:
        cash, anchor_id = found
        basis.append(anchor_id)
        if burn > 0:
            runway = round_half_up(max(Fraction(0), cash) / burn, 1)
    absorbed = _latest(r for r in records if absorbs(r))
    layoff = _recent_big_layoff(records, day)
    if absorbed is not None:
        status, basis = "absorbed", [absorbed.id]
    elif burn is not None and burn <= 0:
        status = "profitable"
    elif runway is not None and runway < 6:
        status = "critical"
    elif (runway is not None and runway < 12) or layoff is not None:
        status = "watch"
        if runway is None or runway >= 12:
            basis = [layoff.id]  # type: ignore[union-attr]
    elif runway is not None:
        status = "ok"
    else:
        status = "unknown"
    return CompanyStatus(
        company=company,
        status=status,
        monthly_burn_usd=None if burn is None else cents(burn),
        cash_usd=None if cash is None else cents(cash),
        runway_months=runway,
        as_of=day,
        basis=tuple(basis),
    )


def statuses(records: Iterable[FeedRecord], day: dt.date) -> list[CompanyStatus]:
    """Every company with a status other than `unknown` as of `day`, by slug."""
    by_company: dict[str, list[FeedRecord]] = defaultdict(list)
    for record in records:
        by_company[record.company].append(record)
    found = (company_status(c, rs, day) for c, rs in sorted(by_company.items()))
    return [s for s in found if s.status != "unknown"]
