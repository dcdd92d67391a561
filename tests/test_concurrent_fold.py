"""Two workers fold a record and its correction at the same moment (PostgreSQL, where batch
transactions run side by side): the second waits for the first, then folds both events."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dealwatch.alerts.rules_config import load_rules
from dealwatch.events.envelope import DealEvent
from dealwatch.events.records import parse_record
from dealwatch.projections.effective import LoggedEvent
from dealwatch.projections.projection import project
from dealwatch.services.audit.tables import check_tables
from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.log_mirror import write_registry
from dealwatch.services.db.schema import upgrade
from dealwatch.services.projection.alerting import check_records, take_checks
from dealwatch.services.projection.projector import Projector, load_registry
from dealwatch.services.projection.records import add_checks, lock_targets
from dealwatch.services.projection.stale import peek_stale, queue_stale, take_unchanged
from tests.incremental import mirror

DAY = dt.date(2024, 12, 31)
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
RECORD = {
    "id": "round-1",
    "kind": "funding",
    "date": "2024-06-01",
    "company": "alpha",
    "amount_usd": 1e9,
    "investors": ["bigco"],
}
FIX = {  # no company: keyed by the record id, so it lands in another partition
    "id": "fix-1",
    "kind": "correction",
    "reported": "2024-06-05",
    "corrects": "round-1",
    "fields": {"amount_usd": 2e9},
}


async def _fold_side_by_side(url: str) -> list:
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    registry = [
        {"slug": "alpha", "name": "Alpha", "role": "startup", "country": "US"},
        {"slug": "bigco", "name": "BigCo", "role": "incumbent", "country": "US"},
    ]
    events = [
        LoggedEvent(DealEvent.of(parse_record(RECORD)), (0, 0)),
        LoggedEvent(DealEvent.of(parse_record(FIX)), (1, 0)),
    ]
    try:
        async with sessions() as session, session.begin():
            await write_registry(session, registry, [], [])
        async with sessions() as first, sessions() as second:
            await first.begin()
            await mirror(first, events[:1], DAY)  # folded, not committed yet
            await second.begin()
            racing = asyncio.create_task(mirror(second, events[1:], DAY))
            await asyncio.sleep(1.0)
            assert not racing.done(), "the correction's fold did not wait for the record's"
            await first.commit()
            await racing
            await second.commit()
        rules = load_rules(None)
        await Projector(engine, rules).run(DAY, 365, record_alerts=True)
        async with sessions() as session:
            stored = await load_registry(session)
            roles = {slug: e.role for slug, e in stored.items()}
            projection = project(events, roles, DAY, 365, rules.thresholds)
            return await check_tables(
                session, projection, stored, {e.event.event_id for e in events}
            )
    finally:
        await engine.dispose()


def test_record_and_correction_folded_side_by_side(postgres_url: str) -> None:
    checks = asyncio.run(_fold_side_by_side(postgres_url))
    bad = [f"{c.name}: {c.differences}" for c in checks if not c.matches]
    assert not bad, "\n".join(bad)
    assert {c.name: c.live_rows for c in checks}["deals"] == 1


async def _locks_of_two_large_folds(url: str, targets: int) -> tuple[int, bool, bool]:
    """Two transactions lock `targets` disjoint targets each (group-committed backlog
    batches of two workers), then a third tries one of the first's: the heavyweight locks
    the first holds, whether the second went ahead, and whether the third waited."""
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as first, sessions() as second, sessions() as third:
            await first.begin()
            await lock_targets(first, [f"round-{i}" for i in range(0, 2 * targets, 2)])
            held = await first.scalar(
                text("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()")
            )
            await second.begin()
            await second.execute(text("SET LOCAL lock_timeout = '10s'"))
            try:
                await lock_targets(second, [f"round-{i}" for i in range(1, 2 * targets, 2)])
                went_ahead = True
            except DBAPIError:  # lock_timeout: it waited for the first
                went_ahead = False
                await second.rollback()
            await third.begin()
            common = asyncio.create_task(lock_targets(third, ["round-0"]))
            await asyncio.sleep(1.0)
            waited = not common.done()
            await first.commit()
            await common
            await third.commit()
            if went_ahead:
                await second.commit()
            return held, went_ahead, waited
    finally:
        await engine.dispose()


def test_large_folds_hold_row_locks_and_overlap(postgres_url: str) -> None:
    """One advisory lock per target ran PostgreSQL's shared lock table (6,400 by default) out
    at two workers with transactions of ~10,000 targets ("out of shared memory"); hashed
    buckets made two such transactions fold in turns. Row locks do neither."""
    held, went_ahead, waited = asyncio.run(_locks_of_two_large_folds(postgres_url, 20_000))
    assert held < 100, f"{held} heavyweight locks for one fold of 20,000 targets"
    assert went_ahead, "a fold of other targets waited for the first"
    assert waited, "a fold of a target another transaction holds did not wait"


async def _refresh_while_a_batch_requeues(url: str) -> tuple[set[str], list[str]]:
    """Two companies queued (committed); a refresh reads the queue; a batch queues one of
    them again and stays open; the refresh confirms what it read (waiting for the batch's
    row lock), the batch commits meanwhile. What the refresh confirmed, and what is queued at
    the end."""
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            await queue_stale(session, {"alpha": 0, "beta": 0})
        async with sessions() as session:
            peeked = await peek_stale(session, [0], 100)
        async with sessions() as batch, sessions() as refresh:
            await batch.begin()
            await queue_stale(batch, {"alpha": 0})  # its records would be written here too
            await refresh.begin()
            await refresh.execute(text("SET LOCAL lock_timeout = '10s'"))
            confirming = asyncio.ensure_future(take_unchanged(refresh, peeked))
            await asyncio.sleep(0.5)
            assert not confirming.done(), "the refresh did not wait for the open batch's row"
            await batch.commit()
            confirmed = await confirming
            await refresh.commit()
        async with sessions() as session:
            queued = list(
                (
                    await session.execute(text("SELECT slug FROM stale_companies ORDER BY slug"))
                ).scalars()
            )
        return confirmed, queued
    finally:
        await engine.dispose()


def test_a_company_requeued_by_an_open_batch_stays_queued(postgres_url: str) -> None:
    """A refresh read a company while a batch with a new record of it was about to queue it
    again; the refresh must not confirm it, and the company must still be queued after both
    commit (before tokens, with `ON CONFLICT DO NOTHING`, the refresh deleted the entry and
    the company stayed stale: `replay --verify` found such companies at 1M on PostgreSQL)."""
    confirmed, queued = asyncio.run(_refresh_while_a_batch_requeues(postgres_url))
    assert confirmed == {"beta"}, f"the refresh confirmed {confirmed}"
    assert queued == ["alpha"], f"queued at the end: {queued}"


async def _alert_pass_while_a_batch_requeues(url: str) -> tuple[list[str], list[str]]:
    """Two record checks queued (committed); a batch queues one again and stays open; the
    alert pass takes checks meanwhile and commits; then the batch commits. What the pass
    took, and what is queued at the end."""
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            await add_checks(session, [{"kind": "record", "key": k} for k in ("r-1", "r-2")])
        async with sessions() as batch, sessions() as checker:
            await batch.begin()
            await add_checks(batch, [{"kind": "record", "key": "r-1"}])  # with its new state
            await checker.begin()
            await checker.execute(text("SET LOCAL lock_timeout = '10s'"))
            taken = await take_checks(checker, "record", 100)
            await checker.commit()
            await batch.commit()
        async with sessions() as session:
            queued = list(
                (
                    await session.execute(
                        text("SELECT key FROM pending_checks WHERE kind = 'record' ORDER BY key")
                    )
                ).scalars()
            )
        return taken, queued
    finally:
        await engine.dispose()


def test_a_check_requeued_by_an_open_batch_waits_for_it(postgres_url: str) -> None:
    """The alert pass must not take a record's check while a batch that changed the record is
    open: it would derive the alerts of the old state, and the new state's alert would never
    be recorded (with `ON CONFLICT DO NOTHING` the batch took no lock on the queued check)."""
    taken, queued = asyncio.run(_alert_pass_while_a_batch_requeues(postgres_url))
    assert taken == ["r-2"], f"the alert pass took {taken} while r-1's batch was open"
    assert queued == ["r-1"], f"left queued: {queued}"


async def _correction_during_an_alert_pass(url: str) -> tuple[list[str], list[str]]:
    """A mega round folded and queued (committed); the alert pass takes its check and derives
    its alert, still open; a correction that brings the round under the threshold is folded
    meanwhile (it reads the record with no alert key yet) and commits after the pass; a last
    pass runs. The round's alert states, and the checks left."""
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    rules = load_rules(None)
    fix = {**FIX, "company": "alpha", "fields": {"amount_usd": 5e6}}
    events = [
        LoggedEvent(DealEvent.of(parse_record({**RECORD, "amount_usd": 2e9})), (0, 0)),
        LoggedEvent(DealEvent.of(parse_record(fix)), (0, 1)),
    ]
    try:
        async with sessions() as session, session.begin():
            await write_registry(session, [], [], [])
            await mirror(session, events[:1], DAY, thresholds=rules.thresholds)
        async with sessions() as checker, sessions() as batch:
            await checker.begin()
            found = await check_records(checker, rules, {}, DAY, NOW, 100, _never)
            assert found.added == 1, "the pass did not derive the mega round's alert"
            await batch.begin()
            correcting = asyncio.create_task(
                mirror(batch, events[1:], DAY, thresholds=rules.thresholds)
            )
            await asyncio.sleep(1.0)
            await checker.commit()
            await correcting
            await batch.commit()
        await Projector(engine, rules).run(DAY, 365, record_alerts=True)
        async with sessions() as session:
            states = list(
                (
                    await session.execute(
                        text("SELECT delivery_state FROM alerts WHERE rule = 'mega_round'")
                    )
                ).scalars()
            )
            left = list((await session.execute(text("SELECT key FROM pending_checks"))).scalars())
        return states, left
    finally:
        await engine.dispose()


async def _never(_key: str) -> bool:
    return False


def test_a_correction_folded_during_the_pass_withdraws_the_alert(postgres_url: str) -> None:
    """The fold queues only records that may alert (records.needs_check), and the old version
    counts: the correction's fold saw the round without an alert key (the pass had not
    committed) and a new version that cannot fire. Had it queued nothing, the alert derived
    from the old version would stay pending although the log no longer implies it."""
    states, left = asyncio.run(_correction_during_an_alert_pass(postgres_url))
    assert states == ["cancelled"], f"the withdrawn round's alert is {states}"
    assert left == [], f"checks left queued: {left}"
