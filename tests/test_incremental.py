"""The incremental tables equal `project()` on the same log, row for row (spec §2-§5), for
random logs: arrival orders, duplicates, late events, corrections, retractions, registry
changes, an evaluation day that moves, batches read live or from a backlog (companies
refreshed at once, or queued and refreshed a partition at a time); on SQLite and on
PostgreSQL (the real databases; no broker is needed at this level)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.rules_config import load_rules
from events.envelope import DealEvent
from events.records import parse_record
from projections.effective import LoggedEvent
from services.seed import SEED_FEED, SEED_REGISTRY
from tests.incremental import run_incremental

DAY = dt.date(2024, 12, 31)
STARTUPS = ["alpha", "beta", "gamma", "delta"]
INCUMBENTS = ["bigco", "megacorp"]
INVESTORS = ["fund", "bigco", "megacorp", "angel"]

dates = st.dates(dt.date(2024, 6, 1), dt.date(2025, 1, 10))
money = st.sampled_from([0, 1e6, 5e8, 1e9, 2.5e9, 7e7])


@st.composite
def records(draw, index: int) -> dict:
    kind = draw(
        st.sampled_from(
            ["funding", "funding", "layoff", "licensing", "acquisition", "financials", "probe"]
        )
    )
    record = {
        "id": f"r{index}",
        "kind": kind,
        "date": draw(dates).isoformat(),
        "company": draw(st.sampled_from(STARTUPS)),
    }
    if draw(st.booleans()):
        record["reported"] = (
            dt.date.fromisoformat(record["date"]) + dt.timedelta(days=draw(st.integers(0, 60)))
        ).isoformat()
    if kind == "funding":
        record |= {
            "amount_usd": draw(money),
            "investors": draw(st.lists(st.sampled_from(INVESTORS), max_size=3, unique=True)),
        }
    elif kind == "layoff":
        record |= {
            "pct": draw(st.sampled_from([5, 20, 35])),
            "headcount": draw(st.sampled_from([10, 150])),
        }
    elif kind == "licensing":
        record |= {
            "licensee": draw(st.sampled_from(INVESTORS)),
            "fee_usd": draw(st.one_of(st.none(), money)),
            "staff_moved_pct": draw(st.sampled_from([10, 50, 80])),
            "founders_joined": draw(st.booleans()),
        }
    elif kind == "acquisition":
        record |= {"acquirer": draw(st.sampled_from(INVESTORS)), "price_usd": draw(money)}
    elif kind == "financials":
        record |= {
            "costs_annual_usd": draw(st.sampled_from([1.2e8, 3e8])),
            "revenue_annual_usd": draw(st.sampled_from([0, 5e7, 4e8])),
            "cash_usd": draw(st.one_of(st.none(), st.sampled_from([2e7, 1e8, 6e8]))),
        }
    else:
        record |= {"authority": "FTC", "action": draw(st.sampled_from(["opened", "closed"]))}
    return record


@st.composite
def corrections(draw, targets: list[str], index: int) -> dict:
    target = draw(st.sampled_from([*targets, "missing"]))
    correction = {
        "id": f"c{index}",
        "kind": "correction",
        "corrects": target,
        "reported": draw(dates).isoformat(),
    }
    change = draw(st.sampled_from(["retract", "amount", "date", "company", "invalid"]))
    if change == "retract":
        correction["retract"] = True
    elif change == "amount":
        correction["fields"] = {"amount_usd": draw(money)}
    elif change == "date":
        correction["fields"] = {"date": draw(dates).isoformat()}
    elif change == "company":
        correction["fields"] = {"company": draw(st.sampled_from(STARTUPS))}
    else:
        correction["fields"] = {"pct": 250}
    return correction


@st.composite
def logs(draw):
    """Events in arrival order over two partitions, with duplicates and batch boundaries."""
    base = [draw(records(i)) for i in range(draw(st.integers(3, 20)))]
    fixes = [draw(corrections([r["id"] for r in base], i)) for i in range(draw(st.integers(0, 6)))]
    events = [DealEvent.of(parse_record(r)) for r in base + fixes]
    events += draw(st.lists(st.sampled_from(events), max_size=3))  # re-sent duplicates
    order = draw(st.permutations(events))
    offsets = [0, 0]
    logged = []
    for event in order:
        partition = draw(st.integers(0, 1))
        logged.append(LoggedEvent(event, (partition, offsets[partition])))
        offsets[partition] += 1
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(logged) - 1)), max_size=8))))
    bounds = [0, *cuts, len(logged)]
    batches = [logged[a:b] for a, b in itertools.pairwise(bounds) if a < b]
    ticks = draw(st.lists(st.booleans(), min_size=len(batches), max_size=len(batches)))
    live = draw(st.lists(st.booleans(), min_size=len(batches), max_size=len(batches)))
    roles = {s: "startup" for s in STARTUPS} | {"fund": "investor", "angel": "investor"}
    roles |= {i: "incumbent" for i in INCUMBENTS}
    flip = draw(st.sampled_from([None, "bigco", "fund"]))  # a role change between batches
    shift = draw(st.sampled_from([0, 0, -40, 25]))  # the evaluation day moves at the end
    return batches, ticks, live, roles, flip, draw(st.integers(0, len(batches))), shift


def _registry(roles: dict[str, str]) -> list[dict]:
    return [
        {"slug": s, "name": s.title(), "role": r, "country": "US"} for s, r in sorted(roles.items())
    ]


def _assert_equal(checks) -> None:
    bad = [f"{c.name}: {c.differences}" for c in checks if not c.matches]
    assert not bad, "\n".join(bad)


def _check(url: str, log) -> None:
    batches, ticks, live, roles, flip, at, shift = log
    updates = {}
    if flip is not None:
        changed = dict(roles)
        changed[flip] = "investor" if roles[flip] == "incumbent" else "incumbent"
        updates = {at: _registry(changed)}
    checks = asyncio.run(
        run_incremental(
            url,
            _registry(roles),
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


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seed_feed_in_any_batches_equals_project(seed: int, tmp_path) -> None:
    """The seed feed, shuffled into random batches, with ticks in between."""
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
            f"sqlite:///{tmp_path / 'seed.db'}",
            registry,
            batches,
            DAY,
            load_rules(None),
            [rng.random() < 0.5 for _ in batches],
            live=[rng.random() < 0.5 for _ in batches],
        )
    )
    _assert_equal(checks)
    assert {c.name: c.live_rows for c in checks}["alerts (implied set)"] == 23
