"""Audits catch a tampered table or log (issue 11), on the real broker, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from typer.testing import CliRunner

from dealwatch.events.envelope import DealEvent
from dealwatch.events.records import parse_record
from dealwatch.services.cli import app
from dealwatch.services.config import Settings, get_settings
from dealwatch.services.db.engine import make_sync_engine
from dealwatch.services.db.schema import upgrade
from dealwatch.services.ingest.pipeline import ingest_feed, ingest_registry
from dealwatch.services.kafka.clients import client_kwargs
from dealwatch.services.kafka.topics import DEAL_EVENTS
from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY
from tests.scenarios import EXTRA_RECORDS
from tests.workers import dump_tables, run_worker_until_caught_up

DAY = dt.date(2024, 12, 31)
PROJECTION_TABLES = (
    "consolidation",
    "consolidation_by_incumbent",
    "watchlist",
    "companies",
    "deals",
    "alerts",
)


@pytest.fixture
def live(kafka: Settings, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The seed (and the extra records: a correction, a retraction) projected by a real worker,
    and the CLI pointed at that world."""
    settings = kafka.model_copy(update={"database_url": database_url, "dealwatch_today": DAY})
    upgrade(database_url)
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps(r) + "\n" for r in EXTRA_RECORDS))
    asyncio.run(ingest_registry(SEED_REGISTRY, settings))
    asyncio.run(ingest_feed([SEED_FEED, extra], settings))
    run_worker_until_caught_up(settings, tmp_path / "worker.log")
    for name, value in {
        "DEALWATCH_TOPIC_PREFIX": settings.dealwatch_topic_prefix,
        "DATABASE_URL": database_url,
        "DEALWATCH_TODAY": DAY.isoformat(),
        "COLUMNS": "400",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _execute(url: str, *statements: str) -> None:
    engine = make_sync_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def test_replay_into_a_fresh_database_equals_the_live_tables(
    live: Settings, tmp_path: Path, postgres_url: str
) -> None:
    # one process, then three sharing the partitions (folds of one record from two
    # partitions: the correction and the retraction in EXTRA_RECORDS)
    for target, processes in ((f"sqlite:///{tmp_path / 'rebuilt.db'}", "1"), (postgres_url, "3")):
        result = _cli(
            "replay", "--db", target, "--as-of", DAY.isoformat(), "--processes", processes
        )
        assert result.exit_code == 0, result.output
        assert "rebuilt" in result.output and "(none sent)" in result.output
        rebuilt, original = dump_tables(target), dump_tables(live.database_url)
        for table in PROJECTION_TABLES:
            assert rebuilt[table] == original[table], table
        asked = "SELECT as_of, idx, hhi FROM consolidation ORDER BY as_of"
        query = _cli("sql", asked, "--database-url", target, "--format", "csv")
        assert query.exit_code == 0, query.output
        assert query.output == _cli("sql", asked, "--format", "csv").output


def test_verify_names_every_edited_table_and_row(live: Settings) -> None:
    for verify in (("replay", "--verify"), ("replay", "--verify", "--spec")):
        clean = _cli(*verify)
        assert clean.exit_code == 0, clean.output
        assert clean.output.count("match") >= 7 and "differs" not in clean.output
    _execute(
        live.database_url,
        "UPDATE consolidation SET idx = 99.9 WHERE as_of = '2024-12-31'",
        "UPDATE consolidation_by_incumbent SET capital_usd = 1 WHERE incumbent = 'amazon' "
        "AND as_of = '2024-12-31'",
        "UPDATE watchlist SET status = 'ok' WHERE company = 'adept'",
        "UPDATE companies SET total_raised_usd = 7 WHERE slug = 'openai'",
        "DELETE FROM deals WHERE record_id = (SELECT min(record_id) FROM deals)",
    )
    for verify in (("audit", "verify"), ("replay", "--verify", "--spec")):  # fold, then spec
        tampered = _cli(*verify)
        assert tampered.exit_code == 3, tampered.output
        out = tampered.output
        assert "consolidation as_of=2024-12-31, window_days=365: idx is 99.9" in out
        assert "consolidation_by_incumbent as_of=2024-12-31, incumbent=amazon: capital_usd" in out
        assert "watchlist company=adept: status is 'ok', the log implies 'absorbed'" in out
        assert "companies slug=openai: total_raised_usd is 7" in out
        assert "implied by the log, missing from the table" in out
        lines = out.splitlines()
        for table in ("consolidation", "consolidation_by_incumbent", "watchlist", "companies"):
            assert any(line.startswith(f"│ {table} ") and "differs" in line for line in lines)


def test_a_forged_event_is_named_by_partition_and_offset(live: Settings) -> None:
    clean = _cli("audit", "report")
    assert clean.exit_code == 0, clean.output
    assert "TAMPERED" not in clean.output

    async def forge() -> tuple[int, int]:
        forged = DealEvent.of(
            parse_record(
                {
                    "id": "forged-1",
                    "kind": "funding",
                    "date": "2024-12-01",
                    "company": "openai",
                    "amount_usd": 9e12,
                    "investors": ["microsoft"],
                }
            )
        )
        producer = AIOKafkaProducer(**client_kwargs(live))
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                live.topic(DEAL_EVENTS), forged.to_bytes(), key=b"openai"
            )
            return sent.partition, sent.offset
        finally:
            await producer.stop()

    partition, offset = asyncio.run(forge())
    report = _cli("audit", "report")
    assert report.exit_code == 3, report.output
    assert f"partition {partition}, offset {offset}: record 'forged-1' was not written" in (
        report.output
    )
    assert report.output.count("tampered:") == 1  # nothing else is blamed


def test_a_resent_duplicate_passes_and_many_forgeries_are_counted(
    live: Settings, tmp_path: Path
) -> None:
    """A message sent again byte for byte (what a producer's retry makes) is the event mirrored
    at its first position: not blamed. Twelve forged events in one partition: the first ten
    named, the rest counted (the report holds a bounded number of lines, whatever the log)."""
    from tests.kafka_helpers import read_topic

    async def send() -> int:
        original = (await read_topic(live, live.topic(DEAL_EVENTS)))[0]
        producer = AIOKafkaProducer(**client_kwargs(live))
        await producer.start()
        try:
            await producer.send_and_wait(
                original.topic, original.value, key=original.key, partition=original.partition
            )
            for i in range(12):
                forged = DealEvent.of(
                    parse_record(
                        {
                            "id": f"forged-{i}",
                            "kind": "funding",
                            "date": "2024-12-01",
                            "company": "openai",
                            "amount_usd": 1e9 + i,
                            "investors": ["microsoft"],
                        }
                    )
                )
                await producer.send_and_wait(
                    original.topic, forged.to_bytes(), key=b"x", partition=original.partition
                )
            return original.partition
        finally:
            await producer.stop()

    partition = asyncio.run(send())
    run_worker_until_caught_up(live, tmp_path / "worker-2.log")  # mirrors all of it
    report = _cli("audit", "report")
    assert report.exit_code == 3, report.output
    blamed = [line for line in report.output.splitlines() if line.startswith("tampered:")]
    named = [line for line in blamed if "was not written by dealwatch ingest" in line]
    assert len(named) == 10 and all(f"partition {partition}," in line for line in named)
    assert f"tampered: partition {partition}, 2 more messages have no matching digest" in blamed
    assert len(blamed) == 11, blamed  # the duplicate is not blamed


def test_alert_audit_lists_what_the_live_system_recorded(live: Settings) -> None:
    recorded = dump_tables(live.database_url)["alerts"]
    result = _cli("audit", "alerts")
    assert result.exit_code == 0, result.output
    assert f"{len(recorded)} alerts implied as of 2024-12-31" in result.output
    assert "never recorded" not in result.output and "delivered twice" not in result.output
    assert _cli("audit", "alerts", "--spec").output.strip() == result.output.strip()  # project()
    _execute(live.database_url, "DELETE FROM alerts WHERE rule = 'mega_round'")
    missing = _cli("audit", "alerts")
    assert missing.exit_code == 3
    assert "implied, never recorded: mega_round:openai:" in missing.output


def test_seed_alert_audit_is_exactly_the_23_alerts(
    kafka: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    settings = kafka.model_copy(update={"database_url": url, "dealwatch_today": DAY})
    upgrade(url)
    asyncio.run(ingest_registry(SEED_REGISTRY, settings))
    asyncio.run(ingest_feed([SEED_FEED], settings))
    run_worker_until_caught_up(settings, tmp_path / "worker.log")
    monkeypatch.setenv("DEALWATCH_TOPIC_PREFIX", settings.dealwatch_topic_prefix)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "400")
    get_settings.cache_clear()
    result = _cli("audit", "alerts")
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "23 alerts implied as of 2024-12-31" in result.output
    assert len(dump_tables(url)["alerts"]) == 23


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_before_and_after_a_correction(live: Settings, tmp_path: Path, fmt: str) -> None:
    amounts = {}
    for known_at in ("2024-05-05", "2024-05-10"):
        out = tmp_path / known_at
        result = _cli("audit", "export", "--known-at", known_at, "--format", fmt, "--output",
                      str(out))  # fmt: skip
        assert result.exit_code == 0, result.output
        rows = _read_export(out / f"effective-log.{fmt}", fmt)
        tiny = next(r for r in rows if r["record_id"] == "fund-tiny-2024")
        amounts[known_at] = json.loads(tiny["record"])["amount_usd"] if isinstance(
            tiny["record"], str) else tiny["record"]["amount_usd"]  # fmt: skip
        assert len(json.loads(tiny["lineage"])) == (1 if known_at == "2024-05-05" else 2)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["known_at"] == known_at and manifest["records"] == len(rows)
        heads = {p: v["chain_head"] for p, v in manifest["partitions"].items()}
        assert str(tiny["partition"]) in heads and len(tiny["chain_head"]) == 64
    assert amounts == {"2024-05-05": 2_000_000_000, "2024-05-10": 20_000_000}


def test_export_equals_the_effective_view_of_the_log(
    kafka: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row for row what `effective_view` over the whole log gives (the spec, computed here on
    its own), with the chain head after each record's first event; an event re-sent later in
    the log does not move where a record entered it."""
    from dealwatch.events.chain import GENESIS, link
    from dealwatch.projections.effective import LoggedEvent, effective_view
    from tests.kafka_helpers import read_topic

    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps(r) + "\n" for r in EXTRA_RECORDS))
    asyncio.run(ingest_feed([SEED_FEED, extra], kafka))
    topic = kafka.topic(DEAL_EVENTS)

    async def resend_first() -> None:
        first = (await read_topic(kafka, topic))[0]
        producer = AIOKafkaProducer(**client_kwargs(kafka))
        await producer.start()
        try:
            await producer.send_and_wait(topic, first.value, key=first.key)
        finally:
            await producer.stop()

    asyncio.run(resend_first())
    messages = asyncio.run(read_topic(kafka, topic))
    heads, head = {}, {}
    for m in messages:
        head[m.partition] = link(head.get(m.partition, GENESIS), m.offset, m.value)
        heads[(m.partition, m.offset)] = head[m.partition]
    logged = [LoggedEvent(DealEvent.from_bytes(m.value), (m.partition, m.offset)) for m in messages]
    monkeypatch.setenv("DEALWATCH_TOPIC_PREFIX", kafka.dealwatch_topic_prefix)
    get_settings.cache_clear()
    try:
        for known_at in (None, dt.date(2024, 5, 5)):
            view = effective_view(logged, known_at)
            want = []
            for record_id, record in sorted(view.records.items()):
                lineage = view.lineage[record_id]
                position = min(e.position for e in logged if e.event.event_id == lineage[0])
                want.append(
                    {
                        "record_id": record_id,
                        "event_id": lineage[0],
                        "partition": position[0],
                        "offset": position[1],
                        "chain_head": heads[position],
                        "lineage": list(lineage),
                        "record": record.model_dump(mode="json"),
                    }
                )
            out = tmp_path / f"export-{known_at}"
            args = ["--known-at", known_at.isoformat()] if known_at else []
            result = _cli("audit", "export", *args, "--output", str(out))
            assert result.exit_code == 0, result.output
            got = [
                {
                    **{k: r[k] for k in want[0] if k != "lineage"},
                    "lineage": json.loads(r["lineage"]),
                }
                for r in _read_export(out / "effective-log.jsonl", "jsonl")
            ]
            assert got == want
    finally:
        get_settings.cache_clear()


def _read_export(path: Path, fmt: str) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if fmt == "csv":
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("change", ["deleted", "altered"])
def test_a_rebuilt_topic_missing_or_altering_one_event_is_caught(
    live: Settings, change: str
) -> None:
    """The topic deleted and produced again without one event (or with one amount changed), as
    an attacker with the broker but not the database would: named by partition and offset."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from tests.kafka_helpers import read_topic

    topic = live.topic(DEAL_EVENTS)

    async def rebuild_without_one() -> tuple[int, int]:
        messages = await read_topic(live, topic)
        victim = max(messages, key=lambda m: (m.offset, -m.partition))  # a partition with many
        victim = next(m for m in messages if m.partition == victim.partition and m.offset == 1)
        admin = AIOKafkaAdminClient(**client_kwargs(live))
        await admin.start()
        try:
            await admin.delete_topics([topic])
            for _ in range(100):
                if topic not in await admin.list_topics():
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)
            await admin.create_topics([NewTopic(topic, live.dealwatch_partitions, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(**client_kwargs(live), enable_idempotence=True)
        await producer.start()
        try:
            for m in messages:
                value = m.value
                if m is victim and change == "deleted":
                    continue
                if m is victim:
                    value = m.value.replace(b'"date":"', b'"date":"1', 0) + b" "
                await producer.send_and_wait(topic, value, key=m.key, partition=m.partition)
        finally:
            await producer.stop()
        return victim.partition, victim.offset

    partition, offset = asyncio.run(rebuild_without_one())
    report = _cli("audit", "report")
    assert report.exit_code == 3, report.output
    out = report.output
    assert f"partition {partition}, offset {offset}: differs from event" in out
    if change == "deleted":
        assert f"partition {partition}, the worker read up to offset" in out
    else:
        assert f"partition {partition}, chain head at offset" in out
    blamed = {line.split(",")[0] for line in out.splitlines() if line.startswith("tampered:")}
    assert blamed == {f"tampered: partition {partition}"}
