"""Per-company facts and the deal ledger: what users look up about one company."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dealwatch.events.records import Acquisition, FeedRecord, Funding, Licensing
from dealwatch.projections.attribution import absorbs
from dealwatch.projections.burn import CompanyStatus
from dealwatch.projections.numbers import MICROS, cents, to_micros


@dataclass(frozen=True)
class CompanyFacts:
    """Totals over a company's effective records dated on or before the evaluation day."""

    slug: str
    total_raised_usd: float
    last_valuation_usd: float | None
    status: str
    absorbed_by: str | None


@dataclass(frozen=True)
class DealRow:
    """One funding, licensing or acquisition record of the effective view."""

    record_id: str
    kind: str
    date: dt.date
    company: str
    counterparties: tuple[str, ...]
    amount_usd: float | None
    reverse_acquihire: bool
    source: str | None


def deal_rows(records: Iterable[FeedRecord]) -> list[DealRow]:
    """The deal ledger, by date then record id."""
    rows = []
    for r in records:
        if isinstance(r, Funding):
            rows.append(
                DealRow(
                    r.id,
                    r.kind,
                    r.date,
                    r.company,
                    tuple(r.investors),
                    r.amount_usd,
                    False,
                    r.source,
                )
            )
        elif isinstance(r, Licensing):
            rows.append(
                DealRow(
                    r.id, r.kind, r.date, r.company, (r.licensee,), r.fee_usd, absorbs(r), r.source
                )
            )
        elif isinstance(r, Acquisition):
            rows.append(
                DealRow(
                    r.id, r.kind, r.date, r.company, (r.acquirer,), r.price_usd, False, r.source
                )
            )
    return sorted(rows, key=lambda d: (d.date, d.record_id))


def _absorber(record: FeedRecord) -> str:
    return record.acquirer if isinstance(record, Acquisition) else record.licensee  # type: ignore[union-attr]


def company_facts(
    records: Sequence[FeedRecord], slugs: Iterable[str], watch: Sequence[CompanyStatus]
) -> list[CompanyFacts]:
    """Facts for every slug named by the registry or by a record, by slug."""
    by_company: dict[str, list[FeedRecord]] = defaultdict(list)
    for r in records:
        by_company[r.company].append(r)
    status = {s.company: s.status for s in watch}
    facts = []
    for slug in sorted(set(slugs) | set(by_company)):
        own = sorted(by_company.get(slug, []), key=lambda r: (r.date, r.known_on, r.id))
        fundings = [r for r in own if isinstance(r, Funding)]
        valued = [r for r in fundings if r.valuation_usd is not None]
        absorbed = [r for r in own if absorbs(r)]
        facts.append(
            CompanyFacts(
                slug=slug,
                total_raised_usd=cents(sum(to_micros(r.amount_usd) for r in fundings), MICROS),
                last_valuation_usd=valued[-1].valuation_usd if valued else None,
                status=status.get(slug, "unknown"),
                absorbed_by=_absorber(absorbed[-1]) if absorbed else None,
            )
        )
    return facts
