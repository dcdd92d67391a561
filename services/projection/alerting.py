"""Derive alerts (spec §5) for what changed, once the worker has read the whole log.

Folds queue the records and companies whose alerts may have changed (`pending_checks`); this
pass derives their alerts with the spec's own rule functions and records the new ones in the
outbox, cancels pending ones a correction or retraction withdrew (as `sync_outbox` does for a
whole projection), and checks the threshold rules over the series the merge keeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.alerts.outbox import CANCELLED, PENDING, RECORD_RULES, outbox_row
from dealwatch.alerts.rules_config import RulesConfig
from dealwatch.projections.attribution import Roles
from dealwatch.projections.burn import CompanyStatus
from dealwatch.projections.consolidation import ConsolidationRow
from dealwatch.projections.rules import (
    AlertCandidate,
    record_alerts,
    status_alerts,
    threshold_alerts,
)
from dealwatch.services.db.bulk import is_postgresql
from dealwatch.services.db.keyed import among
from dealwatch.services.db.log_mirror import dialect_insert
from dealwatch.services.db.models import Alert, Watchlist
from dealwatch.services.db.state_models import CompanyState, PendingCheck, RecordState
from dealwatch.services.projection.codec import decode
from dealwatch.services.projection.records import chunks

WITHDRAWN = "withdrawn: its record was retracted or corrected before delivery"


@dataclasses.dataclass
class AlertOutcome:
    added: int = 0
    cancelled: int = 0
    checked: int = 0


async def record_candidates(
    session: AsyncSession,
    candidates: Sequence[AlertCandidate],
    rules: RulesConfig,
    now: dt.datetime,
) -> int:
    """Insert the candidates the outbox lacks; returns how many were new."""
    if not candidates:
        return 0
    keys = [c.alert_key for c in candidates]
    existing: set[str] = set()
    for part in chunks(keys):
        existing.update(
            (
                await session.execute(
                    select(Alert.alert_key).where(among(session, Alert.alert_key, part))
                )
            ).scalars()
        )
    unique = {c.alert_key: c for c in candidates}.values()
    rows = [outbox_row(c, rules, now) for c in unique if c.alert_key not in existing]
    if rows:
        await session.execute(
            dialect_insert(session, Alert).on_conflict_do_nothing(index_elements=["alert_key"]),
            rows,
        )
    return len(rows)


async def cancel(session: AsyncSession, keys: Sequence[str]) -> int:
    """Cancel the pending alerts among `keys`."""
    done = 0
    for part in chunks(list(keys)):
        result = await session.execute(
            update(Alert)
            .where(among(session, Alert.alert_key, part), Alert.delivery_state == PENDING)
            .values(delivery_state=CANCELLED, last_error=WITHDRAWN)
        )
        done += result.rowcount or 0
    return done


async def take_checks(session: AsyncSession, kind: str, limit: int) -> list[str]:
    """Remove up to `limit` queued checks of `kind` and return their keys. PostgreSQL: rows a
    batch still holds (`add_checks`) or another worker is taking are skipped, and left for a
    later pass, which then reads the state that batch committed."""
    query = (
        select(PendingCheck.key)
        .where(PendingCheck.kind == kind)
        .order_by(PendingCheck.key)
        .limit(limit)
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    keys = list((await session.execute(query)).scalars())
    for part in chunks(keys):
        await session.execute(
            delete(PendingCheck).where(
                PendingCheck.kind == kind, among(session, PendingCheck.key, part)
            )
        )
    return keys


async def check_records(
    session: AsyncSession,
    rules: RulesConfig,
    roles: Roles,
    day: dt.date,
    now: dt.datetime,
    limit: int,
    derived_elsewhere,
) -> AlertOutcome:
    """Per-record rules for up to `limit` queued records."""
    outcome = AlertOutcome()
    keys = await take_checks(session, "record", limit)
    outcome.checked = len(keys)
    if not keys:
        return outcome
    c = RecordState.__table__.c
    candidates, withdrawn, retracted, key_updates = [], [], set(), []
    for part in chunks(keys):
        rows = await session.execute(
            select(c.record_id, c.record, c.lineage, c.retracted, c.alert_key).where(
                among(session, c.record_id, part)
            )
        )
        for record_id, text, lineage, was_retracted, old_key in rows:
            events = tuple(json.loads(lineage))
            found = []
            if text is not None:
                record = decode(text)
                if record.date <= day:
                    found = record_alerts([record], {record_id: events}, roles, rules.thresholds)
            if was_retracted:
                retracted.update(events)
            new_key = found[0].alert_key if found else None
            candidates.extend(found)
            if old_key is not None and old_key != new_key:
                withdrawn.append(old_key)
            if old_key != new_key:
                key_updates.append({"rid": record_id, "key": new_key})
    outcome.added = await record_candidates(session, candidates, rules, now)
    outcome.cancelled = await cancel(session, withdrawn)
    if key_updates:
        await session.execute(
            update(RecordState.__table__)
            .where(c.record_id == bindparam("rid"))
            .values(alert_key=bindparam("key")),
            key_updates,
        )
    if retracted:
        outcome.cancelled += await withdraw_retracted(session, retracted, derived_elsewhere)
    return outcome


async def withdraw_retracted(session: AsyncSession, retracted: set[str], derived) -> int:
    """Pending alerts of other rules whose lineage names a retracted event and which the log no
    longer implies (`derived(key)` is False) are cancelled, as `sync_outbox` does."""
    pending = (
        await session.execute(
            select(Alert.alert_key, Alert.rule, Alert.lineage).where(
                Alert.delivery_state == PENDING, Alert.rule.not_in(RECORD_RULES)
            )
        )
    ).all()
    gone = [
        key
        for key, _rule, lineage in pending
        if retracted.intersection(json.loads(lineage)) and not await derived(key)
    ]
    return await cancel(session, gone)


async def check_companies(
    session: AsyncSession, rules: RulesConfig, now: dt.datetime, limit: int
) -> AlertOutcome:
    """`runway_critical` / `runway_watch` for up to `limit` queued companies."""
    outcome = AlertOutcome()
    slugs = await take_checks(session, "company", limit)
    outcome.checked = len(slugs)
    statuses: list[CompanyStatus] = []
    basis_ids: set[str] = set()
    for part in chunks(slugs):
        rows = await session.execute(
            select(CompanyState.slug, CompanyState.status, CompanyState.basis, Watchlist)
            .join(Watchlist, Watchlist.company == CompanyState.slug)
            .where(
                among(session, CompanyState.slug, part),
                CompanyState.status.in_(("critical", "watch")),
            )
        )
        for slug, status, basis, w in rows:
            ids = tuple(json.loads(basis))
            basis_ids.update(ids)
            statuses.append(
                CompanyStatus(
                    slug, status, w.monthly_burn_usd, w.cash_usd, w.runway_months, w.as_of, ids
                )
            )
    lineage = await lineages(session, basis_ids)
    candidates = status_alerts(statuses, lineage, rules.thresholds)
    outcome.added = await record_candidates(session, candidates, rules, now)
    return outcome


async def lineages(session: AsyncSession, record_ids: set[str]) -> dict[str, tuple[str, ...]]:
    found = {}
    c = RecordState.__table__.c
    for part in chunks(sorted(record_ids)):
        for rid, lineage in await session.execute(
            select(c.record_id, c.lineage).where(among(session, c.record_id, part))
        ):
            found[rid] = tuple(json.loads(lineage))
    return found


async def movers(session: AsyncSession, day: dt.date) -> tuple[str, ...]:
    """The event ids behind the effective records of one day, by record id (as `project`)."""
    c = RecordState.__table__.c
    rows = (
        await session.execute(
            select(c.record_id, c.lineage).where(c.date == day, c.record.is_not(None))
        )
    ).all()
    return tuple(e for _, lineage in sorted(rows) for e in json.loads(lineage))


def threshold_candidates(
    series: Sequence[ConsolidationRow], rules: RulesConfig
) -> list[AlertCandidate]:
    return threshold_alerts(series, {}, rules.thresholds)


async def check_thresholds(
    session: AsyncSession, series: Sequence[ConsolidationRow], rules: RulesConfig, now: dt.datetime
) -> int:
    """Crossings over the whole series (O(days)); new ones recorded with their movers."""
    found = threshold_candidates(series, rules)
    if not found:
        return 0
    existing = set(
        (
            await session.execute(
                select(Alert.alert_key).where(
                    among(session, Alert.alert_key, [c.alert_key for c in found])
                )
            )
        ).scalars()
    )
    new = [
        dataclasses.replace(c, lineage=await movers(session, c.as_of))
        for c in found
        if c.alert_key not in existing
    ]
    return await record_candidates(session, new, rules, now)


async def status_derived(session: AsyncSession, key: str) -> bool:
    """Does the company state still imply this runway alert key?"""
    rule, _, rest = key.partition(":")
    slug, _, basis = rest.partition(":")
    wanted = {"runway_critical": "critical", "runway_watch": "watch"}.get(rule)
    if wanted is None:
        return False
    state = await session.get(CompanyState, slug)
    return bool(state and state.status == wanted and "+".join(json.loads(state.basis)) == basis)
