"""The incremental tables equal `project()` on the same log, row for row (spec §2-§5), for
random logs: arrival orders, duplicates, late events, corrections, retractions, registry
changes, an evaluation day that moves, batches read live or from a backlog (companies
refreshed at once, or queued and refreshed a partition at a time); on SQLite and on
PostgreSQL (the real databases; no broker is needed at this level)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings

from dealwatch.alerts.rules_config import load_rules
from dealwatch.events.envelope import DealEvent
from dealwatch.events.records import parse_record
from dealwatch.projections.effective import LoggedEvent
from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY
from tests.incremental import run_incremental
from tests.random_logs import DAY, logs, registry_rows


def _assert_equal(checks) -> None:
    bad = [f"{c.name}: {c.differences}" for c in checks if not c.matches]
    assert not bad, "\n".join(bad)


def _check(url: str, log) -> None:
    batches, ticks, live, roles, flip, at, shift = log
    updates = {}
    if flip is not None:
        changed = dict(roles)
        changed[flip] = "investor" if roles[flip] == "incumbent" else "incumbent"
        updates = {at: registry_rows(changed)}
    checks = asyncio.run(
        run_incremental(
            url,
            registry_rows(roles),
            batches,
            DAY,
            load_rules(None),
            ticks,
            window_days=60,
            registry_updates=updates,
            tick_day=DAY + dt.timedelta(days=shift) if shift else None,
            live=live,
        )
    )
    _assert_equal(checks)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(log=logs())
def test_incremental_equals_project_sqlite(log, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("incremental") / f"{uuid.uuid4().hex}.db"
    _check(f"sqlite:///{path}", log)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(log=logs())
def test_incremental_equals_project_postgresql(log, pg_admin_url) -> None:
    from tests.conftest import fresh_postgres_database

    with fresh_postgres_database(pg_admin_url) as url:
        _check(url, log)


@pytest.mark.parametrize(
    ("seed", "refresh_chunk"), [(1, None), (2, None), (3, None), (4, 3), (5, 7)]
)
def test_seed_feed_in_any_batches_equals_project(
    seed: int, refresh_chunk: int | None, tmp_path
) -> None:
    """The seed feed, shuffled into random batches, with ticks in between (the queued
    companies refreshed in a pool of processes, `refresh_chunk` at a time, when given)."""
    _check_seed(f"sqlite:///{tmp_path / 'seed.db'}", seed, refresh_chunk)


def test_seed_feed_refreshed_in_a_pool_equals_project_postgresql(pg_admin_url) -> None:
    from tests.conftest import fresh_postgres_database

    with fresh_postgres_database(pg_admin_url) as url:
        _check_seed(url, 6, 4)


def _check_seed(url: str, seed: int, refresh_chunk: int | None) -> None:
    import csv

    rng = random.Random(seed)
    lines = [json.loads(x) for x in SEED_FEED.read_text().splitlines() if x.strip()]
    events = [DealEvent.of(parse_record(r)) for r in lines]
    rng.shuffle(events)
    logged = [LoggedEvent(e, (0, i)) for i, e in enumerate(events)]
    size = rng.randint(1, 15)
    batches = [logged[i : i + size] for i in range(0, len(logged), size)]
    registry = [
        {"slug": r["slug"], "name": r["name"], "role": r["role"], "country": r.get("country")}
        for r in csv.DictReader(SEED_REGISTRY.open())
    ]
    checks = asyncio.run(
        run_incremental(
            url,
            registry,
            batches,
            DAY,
            load_rules(None),
            [rng.random() < 0.5 for _ in batches],
            live=[rng.random() < 0.5 for _ in batches],
            refresh_chunk=refresh_chunk,
        )
    )
    _assert_equal(checks)
    assert {c.name: c.live_rows for c in checks}["alerts (implied set)"] == 23


def test_a_retracted_record_leaves_the_ledger_after_the_first_tick_moved_the_day(
    tmp_path,
) -> None:
    """Found by the property test: batches folded before any tick (the state row created by
    the registry, without a day) must record their day, or the first tick to an earlier day
    leaves a record dated between the two in `deals`, and a later retraction never removes it."""
    from dealwatch.events.envelope import DealEvent

    def funding(record_id: str) -> DealEvent:
        return DealEvent.of(
            parse_record(
                {
                    "id": record_id,
                    "kind": "funding",
                    "date": "2024-06-01",
                    "company": "alpha",
                    "amount_usd": 0,
                    "investors": [],
                }
            )
        )

    def correction(record_id: str, **change) -> DealEvent:
        fix = {"id": record_id, "kind": "correction", "corrects": "r0", "reported": "2024-06-01"}
        return DealEvent.of(parse_record(fix | change))

    moved = correction("c1", fields={"date": "2024-12-01"})  # after the tick's day
    batches = [[funding("r0")], [moved], [funding("r1"), correction("c2", retract=True)]]
    logged, offset = [], 0
    for batch in batches:
        logged.append([LoggedEvent(e, (0, offset + i)) for i, e in enumerate(batch)])
        offset += len(batch)
    roles = {"alpha": "startup", "fund": "investor"}
    _check(
        f"sqlite:///{tmp_path / 'x.db'}",
        (logged, [False, True, False], [False] * 3, roles, None, 0, -40),
    )
