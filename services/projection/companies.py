"""Refresh the companies a fold touched (spec §4 and the `companies` table): each from its own
effective records, with the spec's own functions; nothing else is read or written."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from dealwatch.events.records import FeedRecord
from dealwatch.projections.burn import company_status
from dealwatch.projections.ledger import company_facts
from dealwatch.services.db.bulk import is_postgresql
from dealwatch.services.db.keyed import among
from dealwatch.services.db.log_mirror import insert_or_lock, upsert
from dealwatch.services.db.models import Company, RegistryEntry, Watchlist
from dealwatch.services.db.state_models import CompanyState, RecordState, StaleCompany
from dealwatch.services.projection.codec import decode
from dealwatch.services.projection.records import add_checks, chunks


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


@dataclass
class CompanyInputs:
    """What a refresh of some companies reads: their effective records as of the day, their
    registry entries, and the status and basis their state rows hold."""

    slugs: list[str]
    records: dict[str, list[FeedRecord]] = field(default_factory=lambda: defaultdict(list))
    registry: dict[str, tuple] = field(default_factory=dict)
    before: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class CompanyRows:
    """The rows a refresh writes, computed from `CompanyInputs` alone (pure Python)."""

    watch: list[dict] = field(default_factory=list)
    gone_watch: list[str] = field(default_factory=list)
    companies: list[dict] = field(default_factory=list)
    gone_companies: list[str] = field(default_factory=list)
    states: list[dict] = field(default_factory=list)

    def only(self, slugs: set[str]) -> CompanyRows:
        """The rows of `slugs` alone (a refresh whose other companies changed meanwhile)."""
        return CompanyRows(
            [r for r in self.watch if r["company"] in slugs],
            [s for s in self.gone_watch if s in slugs],
            [r for r in self.companies if r["slug"] in slugs],
            [s for s in self.gone_companies if s in slugs],
            [r for r in self.states if r["slug"] in slugs],
        )


async def refresh_companies(session: AsyncSession, slugs: set[str], day: dt.date) -> int:
    """Recompute status, watchlist row and company row of `slugs` as of `day`, in the
    session's transaction; returns how many changed status or basis (each queued for the
    alert pass). Their queue entries go first: a refresh that read them from the queue before
    (projection/stale.py) then writes none of them over this one."""
    ordered = sorted(slugs)
    if not ordered:
        return 0
    await dequeue(session, ordered)
    await lock_companies(session, ordered)
    inputs = await read_inputs(session, ordered, day)
    return await write_rows(session, company_rows(inputs, day))


async def dequeue(session: AsyncSession, slugs: list[str]) -> None:
    """Drop the refresh-queue entries of `slugs` (services/projection/stale.py)."""
    for part in chunks(slugs):
        await session.execute(delete(StaleCompany).where(among(session, StaleCompany.slug, part)))


async def read_inputs(session: AsyncSession, slugs: list[str], day: dt.date) -> CompanyInputs:
    """The records, registry entries and state rows of `slugs` (in slug order)."""
    inputs = CompanyInputs(slugs)
    for part in chunks(slugs):
        records, entries, states = _input_queries(session, part, day)
        _collect(
            inputs,
            await session.execute(records),
            await session.execute(entries),
            await session.execute(states),
        )
    return inputs


def read_inputs_sync(session: Session, slugs: list[str], day: dt.date) -> CompanyInputs:
    """`read_inputs` on a synchronous session (a refresh process, projection/refresh_pool)."""
    inputs = CompanyInputs(slugs)
    for part in chunks(slugs):
        records, entries, states = _input_queries(session, part, day)
        _collect(
            inputs, session.execute(records), session.execute(entries), session.execute(states)
        )
    return inputs


def _input_queries(session, part: list[str], day: dt.date) -> tuple:
    c = RecordState.__table__.c
    r = RegistryEntry.__table__.c
    k = CompanyState.__table__.c
    return (
        select(c.company, c.record).where(
            among(session, c.company, part), c.record.is_not(None), c.date <= day
        ),
        select(r.slug, r.name, r.role, r.country).where(among(session, r.slug, part)),
        select(k.slug, k.status, k.basis).where(among(session, k.slug, part)),
    )


def _collect(inputs: CompanyInputs, records, entries, states) -> None:
    for company, text in records:
        inputs.records[company].append(decode(text))
    inputs.registry.update({slug: tuple(entry) for slug, *entry in entries})
    inputs.before.update({slug: (status, basis) for slug, status, basis in states})


def company_rows(inputs: CompanyInputs, day: dt.date) -> CompanyRows:
    """Each company's watchlist and company rows as of `day`, with the spec's own functions,
    and the state rows of those whose status or basis changed."""
    out = CompanyRows()
    registry = inputs.registry
    for slug in inputs.slugs:
        own = inputs.records.get(slug, [])
        status = company_status(slug, own, day)
        if status.status == "unknown":
            out.gone_watch.append(slug)
        else:
            out.watch.append(
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
            out.gone_companies.append(slug)
        for f in facts:
            name, role, country = registry.get(slug, (None, None, None))
            out.companies.append(
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
        if inputs.before.get(slug) != now:
            out.states.append({"slug": slug, "status": now[0], "basis": now[1]})
    return out


async def write_rows(session: AsyncSession, rows: CompanyRows) -> int:
    """Write a refresh's rows; queue each company whose status or basis changed for the alert
    pass, and return how many."""
    for part in chunks(rows.gone_watch):
        await session.execute(delete(Watchlist).where(among(session, Watchlist.company, part)))
    for part in chunks(rows.gone_companies):
        await session.execute(delete(Company).where(among(session, Company.slug, part)))
    await upsert(session, Watchlist, rows.watch, ["company"])
    await upsert(session, Company, rows.companies, ["slug"])
    await upsert(session, CompanyState, rows.states, ["slug"])
    await add_checks(session, [{"kind": "company", "key": r["slug"]} for r in rows.states])
    return len(rows.states)
