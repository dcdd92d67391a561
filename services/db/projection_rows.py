"""The rows each projection table holds for one projection: the one mapping the live
projector writes and the audit compares, so both read the same columns the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dealwatch.projections.consolidation import ConsolidationRow
from dealwatch.projections.ledger import DealRow
from dealwatch.projections.projection import Projection
from dealwatch.services.db.models import (
    Company,
    Consolidation,
    ConsolidationByIncumbent,
    Deal,
    ProjectionIssue,
    RegistryEntry,
    Watchlist,
)
from dealwatch.services.db.string_lists import string_list


@dataclass(frozen=True)
class TableRows:
    """One table's rows: its model, primary key columns, rows, and the part of the table they
    replace (`scope`: a WHERE clause, or None for the whole table)."""

    model: Any
    keys: tuple[str, ...]
    rows: list[dict]
    scope: Any = None


def consolidation_row(r: ConsolidationRow) -> dict:
    """The `consolidation` row of one series row."""
    return {
        "as_of": r.as_of,
        "window_days": r.window_days,
        "idx": r.idx,
        "hhi": r.hhi,
        "incumbent_capital_usd": r.incumbent_capital_usd,
        "total_capital_usd": r.total_capital_usd,
        "absorptions": r.absorptions,
    }


def deal_row(d: DealRow) -> dict:
    """The `deals` row of one ledger entry."""
    return {
        "record_id": d.record_id,
        "kind": d.kind,
        "date": d.date,
        "company": d.company,
        "counterparties": string_list(d.counterparties),
        "amount_usd": d.amount_usd,
        "reverse_acquihire": d.reverse_acquihire,
        "source": d.source,
    }


def projection_tables(
    projection: Projection, registry: dict[str, RegistryEntry]
) -> list[TableRows]:
    """Every projection table's rows for `projection`, with names from the registry."""
    window = projection.window_days
    return [
        TableRows(
            Consolidation,
            ("as_of", "window_days"),
            [consolidation_row(r) for r in projection.series],
            Consolidation.window_days == window,
        ),
        TableRows(
            ConsolidationByIncumbent,
            ("as_of", "incumbent"),
            [
                {"as_of": r.as_of, "incumbent": name, "capital_usd": capital}
                for r in projection.series
                for name, capital in r.by_incumbent
            ],
            None,
        ),
        TableRows(
            Watchlist,
            ("company",),
            [
                {
                    "company": s.company,
                    "status": s.status,
                    "monthly_burn_usd": s.monthly_burn_usd,
                    "cash_usd": s.cash_usd,
                    "runway_months": s.runway_months,
                    "as_of": s.as_of,
                }
                for s in projection.watchlist
            ],
            None,
        ),
        TableRows(
            Company,
            ("slug",),
            [
                {
                    "slug": c.slug,
                    "name": _attr(registry, c.slug, "name"),
                    "role": _attr(registry, c.slug, "role"),
                    "country": _attr(registry, c.slug, "country"),
                    "total_raised_usd": c.total_raised_usd,
                    "last_valuation_usd": c.last_valuation_usd,
                    "status": c.status,
                    "absorbed_by": c.absorbed_by,
                }
                for c in projection.companies
            ],
            None,
        ),
        TableRows(
            Deal,
            ("record_id",),
            [deal_row(d) for d in projection.deals],
            None,
        ),
        TableRows(
            ProjectionIssue,
            ("seq",),
            [{"seq": i, "message": m} for i, m in enumerate(projection.issues)],
            None,
        ),
    ]


def _attr(registry: dict[str, RegistryEntry], slug: str, name: str) -> str | None:
    entry = registry.get(slug)
    return getattr(entry, name) if entry else None
