"""Fold the records a batch of events concerns (spec §2), in the batch's own transaction.

Only the target records of the batch are folded again, from their own events in the mirror
(`events.target_id`); what changed moves the deal ledger, queues signed per-day changes for
the series merge, and names the companies to refresh and the alerts to derive.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.events.envelope import DealEvent
from dealwatch.events.records import FeedRecord
from dealwatch.projections.day_totals import DayTotals, changes_of
from dealwatch.projections.effective import LoggedEvent
from dealwatch.projections.ledger import deal_rows
from dealwatch.projections.record_fold import RecordFold, fold_record, target_of
from dealwatch.projections.rules import may_fire
from dealwatch.projections.thresholds import Thresholds
from dealwatch.services.db.bulk import bulk_insert, execute_bulk, is_postgresql
from dealwatch.services.db.keyed import among
from dealwatch.services.db.log_mirror import insert_or_lock, upsert
from dealwatch.services.db.models import Deal, Event
from dealwatch.services.db.projection_rows import deal_row as ledger_row
from dealwatch.services.db.state_models import PendingCheck, RecordState, SeriesChange
from dealwatch.services.db.string_lists import string_list
from dealwatch.services.projection.codec import decode, encode

CHUNK = 2_000  # ids per IN (...) clause


@dataclass
class FoldOutcome:
    """What a fold changed: records, the companies to refresh, and issues."""

    records: int = 0
    companies: set[str] = field(default_factory=set)
    issues_changed: bool = False
    partitions: dict[str, int] = field(default_factory=dict)
    """The log partition of the event that touched each company (when folded from a batch)."""


def chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def events_of(
    session: AsyncSession, targets: list[str], batch: Mapping[str, LoggedEvent]
) -> dict[str, list[LoggedEvent]]:
    """Every mirrored event of each target record, at its first position in the log."""
    found: dict[str, list[LoggedEvent]] = {t: [] for t in targets}
    if not targets:
        return found
    decoded = {event_id: logged.event for event_id, logged in batch.items()}
    t = Event.__table__.c
    for part in chunks(targets):
        rows = await session.execute(
            select(t.event_id, t.target_id, t.partition, t.offset, t.payload).where(
                among(session, t.target_id, part)
            )
        )
        for event_id, target, partition, offset, payload in rows:
            event = decoded.get(event_id) or DealEvent.from_bytes(payload)
            found[target].append(LoggedEvent(event, (partition, offset)))
    return found


async def lock_targets(session: AsyncSession, targets: list[str]) -> None:
    """PostgreSQL: lock the targets' `fold_locks` rows until the transaction ends, in
    order, before their state is read. A record and its correction may sit in partitions two
    workers own; the second to fold waits, then reads the first one's committed events and
    state (else each would fold without the other's event, and the last commit would win).

    Row locks, not advisory locks: PostgreSQL keeps advisory locks in one shared table
    (`max_locks_per_transaction` times `max_connections`, 6,400 by default), which one lock
    per target ran out of at two workers with transactions of ~10,000 targets, and hashed
    buckets made two such transactions nearly always share one. `DO UPDATE ... WHERE false`
    locks a conflicting row without writing it; a new target's row is inserted (and a second
    inserter waits for it). SQLite has one writer at a time already."""
    if not targets or not is_postgresql(session):
        return
    await session.execute(
        text(
            "INSERT INTO fold_locks (target)"
            " SELECT DISTINCT t FROM unnest(CAST(:targets AS text[])) AS t ORDER BY t"
            " ON CONFLICT (target) DO UPDATE SET target = EXCLUDED.target WHERE false"
        ),
        {"targets": targets},
    )


def _state_row(fold: RecordFold) -> dict:
    r = fold.record
    return {
        "record_id": fold.record_id,
        "company": r.company if r else None,
        "date": r.date if r else None,
        "kind": r.kind if r else None,
        "record": encode(r) if r else None,
        "lineage": string_list(fold.lineage),
        "retracted": fold.retracted,
        "issues": json.dumps([[list(_plain(o)), m] for o, m in fold.issues])
        if fold.issues
        else None,
    }


def _plain(order: tuple) -> list:
    return [list(v) if isinstance(v, tuple) else v for v in order]


@dataclass(frozen=True)
class Prepared:
    """A target's fold from one batch's events alone, and the rows it writes: what the
    transaction writes for a target the mirror holds no earlier events of (most targets of a
    backlog). Computed before the transaction, while the previous one is in SQL."""

    fold: RecordFold
    row: dict
    deals: list[dict]


def prepare(
    batch: Mapping[str, LoggedEvent], known_at: dt.date | None = None
) -> dict[str, Prepared]:
    """Each target's `Prepared` fold from `batch` (event id -> earliest copy) alone."""
    by_target: dict[str, list[LoggedEvent]] = {}
    for logged in batch.values():
        by_target.setdefault(target_of(logged.event.record), []).append(logged)
    prepared = {}
    for target, events in by_target.items():
        fold = fold_record(target, events, known_at)
        deals = deal_row(fold.record) if fold.record is not None else []
        prepared[target] = Prepared(fold, _state_row(fold), deals)
    return prepared


def merge_prepared(parts: Iterable[Mapping[str, Prepared]]) -> dict[str, Prepared]:
    """The `Prepared` folds of batches written in one transaction: a target with events in
    more than one of them is folded in the transaction instead (its fold needs them all)."""
    merged: dict[str, Prepared] = {}
    seen: set[str] = set()
    for part in parts:
        for target, folded in part.items():
            if target in seen:
                merged.pop(target, None)
            else:
                seen.add(target)
                merged[target] = folded
    return merged


async def fold_targets(
    session: AsyncSession,
    targets: Iterable[str],
    day: dt.date,
    batch: Mapping[str, LoggedEvent] | None = None,
    known_at: dt.date | None = None,
    prepared: Mapping[str, Prepared] | None = None,
    thresholds: Thresholds | None = None,
) -> FoldOutcome:
    """Fold `targets` again and write what changed. `batch` (event id -> event, every event
    just mirrored) spares decoding them, and spares reading the mirror for a target never
    folded before: every mirrored event's target has a state row once its batch commits, so
    a target without one has no events but the batch's — and its fold may be `prepared`
    (from exactly those events) before the transaction. With the alert pass's `thresholds`,
    only changed records that `needs_check` are queued for it (else every changed one)."""
    prepared = prepared or {}
    outcome = FoldOutcome()
    targets = sorted(set(targets))
    if not targets:
        return outcome
    await lock_targets(session, targets)
    c = RecordState.__table__.c
    old: dict[str, dict] = {}
    for part in chunks(targets):
        for row in await session.execute(
            select(RecordState.__table__).where(among(session, c.record_id, part))
        ):
            old[row.record_id] = dict(row._mapping)
    from_batch = set() if batch is None else {t for t in targets if t not in old}
    events = await events_of(session, [t for t in targets if t not in from_batch], batch or {})
    partition_of: dict[str, int] = {}
    for logged in (batch or {}).values():
        target = target_of(logged.event.record)
        if target in from_batch:
            events.setdefault(target, []).append(logged)
        partition = logged.position[0]
        partition_of[target] = min(partition, partition_of.get(target, partition))
    writes, removed, added, checks = [], [], [], []
    deal_upserts: list[dict] = []
    deal_deletes: list[str] = []
    for target in targets:
        ready = prepared.get(target) if target in from_batch else None
        if ready is not None:
            fold, row, deals = ready.fold, dict(ready.row), ready.deals
        else:
            fold = fold_record(target, events.get(target, []), known_at)
            row, deals = _state_row(fold), None
        before = old.get(target)
        if before is not None and all(before[k] == v for k, v in row.items()):
            continue
        writes.append(row)  # without `alert_key`: the alert pass's, kept as committed
        outcome.records += 1
        if (before["issues"] if before else None) != row["issues"]:
            outcome.issues_changed = True
        previous = decode(before["record"]) if before and before["record"] else None
        if thresholds is None or needs_check(before, previous, fold, thresholds):
            checks.append({"kind": "record", "key": target})
        touched = [previous.company] if previous is not None else []
        if fold.record is not None:
            touched.append(fold.record.company)
        if target in partition_of:
            for company in touched:
                outcome.partitions.setdefault(company, partition_of[target])
        if previous is not None:
            removed.append(previous)
            outcome.companies.add(previous.company)
            if previous.date <= day:
                deal_deletes.append(target)
        if fold.record is not None:
            added.append(fold.record)
            outcome.companies.add(fold.record.company)
            if fold.record.date <= day:
                deal_upserts.extend(deal_row(fold.record) if deals is None else deals)
    if not writes:
        return outcome
    await upsert(session, RecordState, writes, ["record_id"])
    await write_deals(session, deal_deletes, deal_upserts)
    await queue_series_changes(session, changes_of(removed, added))
    if outcome.issues_changed:
        checks.append({"kind": "issues", "key": "*"})
    await add_checks(session, checks)
    return outcome


def needs_check(
    before: Mapping | None, previous: FeedRecord | None, fold: RecordFold, t: Thresholds
) -> bool:
    """Whether the alert pass must look at a record that changed: it has an alert to keep or
    withdraw, it is retracted (other rules' alerts may name its events), or its old or new
    version may fire a per-record rule. The rest (most records of a backlog) cannot change
    any alert: queueing them cost a queue row written and deleted and a record read, decoded
    and evaluated by the pass. The old version counts so that a correction that stops a
    record firing meets a pass deriving from the old one the way it always has (the queued
    check waits for the correction's transaction, services/projection/alerting.take_checks)."""
    if before is not None and (before["alert_key"] is not None or before["retracted"]):
        return True
    if fold.retracted:
        return True
    return any(r is not None and may_fire(r, t) for r in (previous, fold.record))


def deal_row(record) -> list[dict]:
    """The `deals` row of a record, if it is a deal (the mapping `project()`'s tables use)."""
    return [ledger_row(d) for d in deal_rows([record])]


async def write_deals(session: AsyncSession, deletes: list[str], upserts: list[dict]) -> None:
    keep = {r["record_id"] for r in upserts}
    gone = [rid for rid in deletes if rid not in keep]
    for part in chunks(gone):
        await session.execute(delete(Deal).where(among(session, Deal.record_id, part)))
    await upsert(session, Deal, upserts, ["record_id"])


async def queue_series_changes(session: AsyncSession, changes: Mapping[dt.date, DayTotals]) -> None:
    rows = []
    for day, change in sorted(changes.items()):
        change.merge(DayTotals())  # drops zeroed providers and pairs
        if not change.is_empty():
            rows.append({"date": day, "totals": change.to_json()})
    if rows:
        stmt, params = bulk_insert(session, SeriesChange, rows)
        await execute_bulk(session, stmt, params)


async def add_checks(session: AsyncSession, checks: list[dict]) -> None:
    """Queue records and companies for the alert pass; on PostgreSQL the queued ones stay
    locked until this transaction ends, so the pass cannot take them before it commits."""
    rows = [{"kind": k, "key": key} for k, key in sorted({(c["kind"], c["key"]) for c in checks})]
    await insert_or_lock(session, PendingCheck, rows, ["kind", "key"])
