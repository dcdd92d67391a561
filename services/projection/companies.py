"""Refresh the companies a fold touched (spec §4 and the `companies` table): each from its own
effective records, with the spec's own functions; nothing else is read or written."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from events.records import FeedRecord
from projections.burn import company_status
from projections.ledger import company_facts
from services.db.bulk import is_postgresql
from services.db.keyed import among
from services.db.log_mirror import insert_or_lock, upsert
from services.db.models import Company, RegistryEntry, Watchlist
from services.db.state_models import CompanyState, RecordState
from services.projection.codec import decode
from services.projection.records import add_checks, chunks


async def lock_companies(session: AsyncSession, slugs: list[str]) -> None:
    """Row-lock the companies in slug order (PostgreSQL), so that two workers refreshing one
    company (a correction moved a record across partitions) take turns without deadlock."""
    if not slugs or not is_postgresql(session):
        return
    await insert_or_lock(
        session,
        CompanyState,
        [{"slug": s, "status": "unknown", "basis": "[]"} for s in sorted(set(slugs))],
        ["slug"],
    )


async def refresh_companies(session: AsyncSession, slugs: set[str], day: dt.date) -> int:
    """Recompute status, watchlist row and company row of `slugs` as of `day`; returns how
    many changed status or basis (each queued for the alert pass)."""
    ordered = sorted(slugs)
    if not ordered:
        return 0
    await lock_companies(session, ordered)
    records: dict[str, list[FeedRecord]] = defaultdict(list)
    registry: dict[str, tuple] = {}
    before: dict[str, tuple[str, str]] = {}
    c = RecordState.__table__.c
    r = RegistryEntry.__table__.c
    k = CompanyState.__table__.c
    for part in chunks(ordered):
        rows = await session.execute(
            select(c.company, c.record).where(
                among(session, c.company, part), c.record.is_not(None), c.date <= day
            )
        )
        for company, text in rows:
            records[company].append(decode(text))
        entries = await session.execute(
            select(r.slug, r.name, r.role, r.country).where(among(session, r.slug, part))
        )
        registry.update({slug: (name, role, country) for slug, name, role, country in entries})
        states = await session.execute(
            select(k.slug, k.status, k.basis).where(among(session, k.slug, part))
        )
        before.update({slug: (status, basis) for slug, status, basis in states})
    watch, gone_watch, company_rows, gone_companies, states, checks = [], [], [], [], [], []
    for slug in ordered:
        own = records.get(slug, [])
        status = company_status(slug, own, day)
        if status.status == "unknown":
            gone_watch.append(slug)
        else:
            watch.append(
                {
                    "company": slug,
                    "status": status.status,
                    "monthly_burn_usd": status.monthly_burn_usd,
                    "cash_usd": status.cash_usd,
                    "runway_months": status.runway_months,
                    "as_of": status.as_of,
                }
            )
        facts = company_facts(own, [slug] if slug in registry else [], [status])
        if not facts:
            gone_companies.append(slug)
        for f in facts:
            name, role, country = registry.get(slug, (None, None, None))
            company_rows.append(
                {
                    "slug": slug,
                    "name": name,
                    "role": role,
                    "country": country,
                    "total_raised_usd": f.total_raised_usd,
                    "last_valuation_usd": f.last_valuation_usd,
                    "status": f.status,
                    "absorbed_by": f.absorbed_by,
                }
            )
        now = (status.status, json.dumps(list(status.basis)))
        if before.get(slug) != now:
            states.append({"slug": slug, "status": now[0], "basis": now[1]})
            checks.append({"kind": "company", "key": slug})
    for part in chunks(gone_watch):
        await session.execute(delete(Watchlist).where(among(session, Watchlist.company, part)))
    for part in chunks(gone_companies):
        await session.execute(delete(Company).where(among(session, Company.slug, part)))
    await upsert(session, Watchlist, watch, ["company"])
    await upsert(session, Company, company_rows, ["slug"])
    await upsert(session, CompanyState, states, ["slug"])
    await add_checks(session, checks)
    return len(checks)
