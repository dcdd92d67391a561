"""The Faust worker keeps the SQL projections (issue 3), against the real broker and databases."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from dealwatch.alerts.rules_config import load_rules
from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_async_engine, make_sync_engine
from dealwatch.services.db.schema import upgrade
from dealwatch.services.ingest.pipeline import ingest_feed, ingest_registry
from dealwatch.services.projection.projector import run_projection
from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY
from tests.expected import (
    assert_breakdown,
    assert_row,
    assert_series,
    assert_watchlist,
    expected,
)
from tests.scenarios import EXTRA_RECORDS
from tests.synthetic import synthetic_records, write_jsonl, write_registry
from tests.workers import Worker, catch_up, cli_env, dump_tables, run_worker_until_caught_up

EXPECTED = expected()
SEED = [json.loads(line) for line in SEED_FEED.read_text().splitlines() if line.strip()]
DAY = dt.date(2024, 12, 31)


def _setup(kafka: Settings, url: str, **changes) -> Settings:
    settings = kafka.model_copy(update={"database_url": url, "dealwatch_today": DAY, **changes})
    upgrade(url)
    return settings


def _ingest(settings: Settings, *feeds: Path, registry: Path = SEED_REGISTRY) -> None:
    asyncio.run(ingest_registry(registry, settings))
    asyncio.run(ingest_feed(list(feeds), settings))


def _rows(url: str, statement: str, **params) -> list[dict]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(statement), params)]
    finally:
        engine.dispose()


def _project_at(settings: Settings, day: dt.date) -> None:
    async def run() -> None:
        engine = make_async_engine(settings.database_url)
        try:
            await run_projection(engine, load_rules(None), day)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_seed_feed_reproduces_expected(kafka: Settings, database_url: str, tmp_path: Path) -> None:
    settings = _setup(kafka, database_url)
    _ingest(settings, SEED_FEED)
    run_worker_until_caught_up(settings, tmp_path / "worker.log")

    series = _rows(database_url, "SELECT * FROM consolidation ORDER BY as_of")
    assert_series(series, EXPECTED["series_to_2024-12-31"])
    alerts = _rows(database_url, "SELECT * FROM alerts")
    record_alerts = sorted(
        (a["rule"], a["subject"], a["alert_key"].split(":", 2)[2])
        for a in alerts
        if a["rule"] not in ("consolidation_high", "hhi_concentrated")
    )
    assert record_alerts == sorted(
        (a["rule"], a["subject"], a["record"]) for a in EXPECTED["record_alerts"]
    )
    assert all(json.loads(a["lineage"]) for a in alerts)
    assert {a["delivery_state"] for a in alerts} == {"pending"}

    for day, want in sorted(EXPECTED["as_of"].items()):  # the scheduler's daily re-evaluation
        _project_at(settings, dt.date.fromisoformat(day))
        row = _rows(database_url, "SELECT * FROM consolidation ORDER BY as_of DESC LIMIT 1")[0]
        assert_row(row, want["consolidation"], day)
        breakdown = _rows(
            database_url,
            "SELECT incumbent, capital_usd FROM consolidation_by_incumbent WHERE as_of = :d",
            d=row["as_of"],
        )
        assert_breakdown(
            {b["incumbent"]: b["capital_usd"] for b in breakdown},
            want["consolidation"]["by_incumbent"],
            day,
        )
        watch = {w["company"]: w for w in _rows(database_url, "SELECT * FROM watchlist")}
        assert_watchlist(watch, want["watchlist"], day)


def test_arrival_order_does_not_change_the_tables(
    kafka: Settings, sqlite_url: str, tmp_path: Path
) -> None:
    records = SEED + EXTRA_RECORDS
    in_order = sorted(records, key=lambda r: (r.get("reported") or r["date"], r["id"]))
    scrambled = list(reversed(records)) + records[:5]  # late, reversed, duplicated
    ordered = _setup(kafka, sqlite_url, dealwatch_topic_prefix=kafka.dealwatch_topic_prefix + "o.")
    other_url = f"sqlite:///{tmp_path / 'scrambled.db'}"
    mixed = _setup(kafka, other_url, dealwatch_topic_prefix=kafka.dealwatch_topic_prefix + "s.")
    _ingest(ordered, write_jsonl(in_order, tmp_path / "ordered.jsonl"))
    _ingest(mixed, write_jsonl(scrambled[:20], tmp_path / "first.jsonl"))
    run_worker_until_caught_up(mixed, tmp_path / "mixed-1.log")  # some records arrive later
    _ingest(mixed, write_jsonl(scrambled[20:], tmp_path / "later.jsonl"))
    run_worker_until_caught_up(mixed, tmp_path / "mixed-2.log")
    run_worker_until_caught_up(ordered, tmp_path / "ordered.log")

    a, b = dump_tables(sqlite_url), dump_tables(other_url)
    # The outbox is history: an alert that fired on a partial picture stays fired (once per
    # key). Every alert the complete log implies is recorded in both.
    keys_a = {row[0] for row in a.pop("alerts")}
    keys_b = {row[0] for row in b.pop("alerts")}
    assert a == b
    assert keys_a <= keys_b, keys_a - keys_b
    extra = {key.split(":")[0] for key in keys_b - keys_a}
    assert extra <= {"consolidation_high", "hhi_concentrated", "runway_watch", "runway_critical"}
    companies = {row[0]: row for row in a["companies"]}
    assert companies["tinyco"][4] == 20_000_000  # the correction applied
    assert "ghostco" not in {row[0] for row in a["watchlist"]}  # the retraction applied


def test_two_workers_in_one_group_equal_one(
    kafka: Settings, postgres_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    records = synthetic_records(3000, 400) + SEED
    registry = write_registry(tmp_path / "registry.csv")
    feed = write_jsonl(records, tmp_path / "feed.jsonl")
    pair = _setup(kafka, postgres_url)
    _ingest(pair, feed, registry=registry)
    workers = [Worker(pair, tmp_path / f"w{i}.log") for i in range(2)]
    try:
        catch_up(pair, 180)
        assert all(w.process.poll() is None for w in workers), [w.output() for w in workers]
    finally:
        for w in workers:
            w.stop()
    logs = [w.log.read_text(errors="replace") for w in workers]
    for log in logs:  # both took part: each was assigned some deal-events partitions
        assert "Setting newly assigned partitions" in log and "deal-events" in log, log[-3000:]
    single = _setup(kafka, sqlite_url, dealwatch_topic_prefix=kafka.dealwatch_topic_prefix + "1.")
    _ingest(single, feed, registry=registry)
    run_worker_until_caught_up(single, tmp_path / "single.log", 180)
    assert dump_tables(postgres_url) == _normalised(dump_tables(sqlite_url)), logs


def _normalised(dump: dict) -> dict:
    """SQLite keeps booleans as 0/1; PostgreSQL as true/false."""
    return {
        t: sorted(
            tuple(bool(v) if t == "deals" and i == 6 else v for i, v in enumerate(r)) for r in rows
        )
        for t, rows in dump.items()
    }


def test_sigkill_mid_stream_equals_clean_rebuild(
    kafka: Settings, sqlite_url: str, tmp_path: Path
) -> None:
    records = synthetic_records(30_000, 2_000) + SEED
    registry = write_registry(tmp_path / "registry.csv")
    settings = _setup(kafka, sqlite_url)
    _ingest(settings, write_jsonl(records, tmp_path / "feed.jsonl"), registry=registry)

    worker = Worker(settings, tmp_path / "killed.log")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once it has written part of the log
        done = _rows(sqlite_url, "SELECT COUNT(*) AS n FROM events")[0]["n"]
        if 0 < done < len(records):
            break
        time.sleep(0.05)
    worker.kill()
    assert 0 < done < len(records), f"could not kill mid-stream (events={done})"
    run_worker_until_caught_up(settings, tmp_path / "restarted.log", 240)

    rebuild_url = f"sqlite:///{tmp_path / 'rebuild.db'}"
    rebuild = _setup(kafka, rebuild_url)  # same log, same group, empty database
    run_worker_until_caught_up(rebuild, tmp_path / "rebuild.log", 240)
    assert dump_tables(sqlite_url, True) == dump_tables(rebuild_url, True)
    assert _rows(sqlite_url, "SELECT COUNT(*) AS n FROM events")[0]["n"] == len(records)
    # a backlog of full batches (companies queued, refreshed once caught up) equals the spec
    verify = subprocess.run(
        [sys.executable, "-m", "dealwatch", "replay", "--verify"],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-3000:]
    assert "differ" not in verify.stdout, verify.stdout[-3000:]


@pytest.mark.parametrize("field", ["consolidation", "watchlist"])
def test_tables_match_the_pure_projection(
    kafka: Settings, sqlite_url: str, tmp_path: Path, field: str
) -> None:
    """The worker's tables hold exactly what `project()` computes from the same log."""
    from dealwatch.projections.projection import project
    from tests.seed import seed_events, seed_roles

    settings = _setup(kafka, sqlite_url)
    _ingest(settings, SEED_FEED)
    run_worker_until_caught_up(settings, tmp_path / "worker.log")
    projection = project(seed_events(), seed_roles(), DAY)
    if field == "consolidation":
        want = [dataclasses.astuple(r)[:7] for r in projection.series]
        got = [
            tuple(r.values())
            for r in _rows(
                sqlite_url,
                "SELECT as_of, window_days, idx, hhi, "
                "incumbent_capital_usd, total_capital_usd, absorptions FROM consolidation "
                "ORDER BY as_of",
            )
        ]
        assert [(w[0].isoformat(), *w[1:]) for w in want] == got
    else:
        want = sorted((s.company, s.status, s.runway_months) for s in projection.watchlist)
        got = sorted(
            (r["company"], r["status"], r["runway_months"])
            for r in _rows(sqlite_url, "SELECT * FROM watchlist")
        )
        assert want == got


def test_a_failed_write_stops_the_worker_and_a_restart_loses_nothing(
    kafka: Settings, sqlite_url: str, tmp_path: Path
) -> None:
    """A transaction the database refuses stops the worker with its batch unacknowledged
    (no offset past what SQL holds), and the next worker mirrors that batch."""
    settings = _setup(kafka, sqlite_url)
    _ingest(settings, SEED_FEED)
    run_worker_until_caught_up(settings, tmp_path / "first.log")
    before = {r["record_id"] for r in _rows(sqlite_url, "SELECT record_id FROM events")}
    engine = make_sync_engine(sqlite_url)
    with engine.begin() as conn:  # a real refusal, inside the worker's own transaction
        conn.execute(
            text(
                "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        )
    extra = [dict(r) for r in EXTRA_RECORDS[:1]]
    _ingest(settings, write_jsonl(extra, tmp_path / "extra.jsonl"))
    worker = Worker(settings, tmp_path / "failing.log")
    try:
        worker.process.wait(60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker kept running:\n{worker.output()}") from None
    finally:
        worker.stop()
    assert worker.process.returncode != 0, worker.output()
    assert "could not be written to SQL" in worker.log.read_text(errors="replace")
    assert {r["record_id"] for r in _rows(sqlite_url, "SELECT record_id FROM events")} == before
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_events"))
    engine.dispose()
    run_worker_until_caught_up(settings, tmp_path / "restarted.log")
    after = {r["record_id"] for r in _rows(sqlite_url, "SELECT record_id FROM events")}
    assert after == before | {extra[0]["id"]}


async def test_one_consumer_poll_holds_at_most_one_batch(kafka: Settings, sqlite_url: str) -> None:
    """Faust's default poll has no limit: in a 1M backlog one poll held ~104,000 records as
    Python objects (docs/benchmarks.md, the worker's peak RSS). The cap reaches the aiokafka
    consumer Faust builds for the worker."""
    from dealwatch.services.worker.app import BATCH_SIZE, create_app

    app = create_app(_setup(kafka, sqlite_url))
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert consumer._max_poll_records == BATCH_SIZE
    finally:
        await consumer.stop()
