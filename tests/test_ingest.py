"""Ingesting feed files into the real broker (issue 2)."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dealwatch.events.envelope import DealEvent, event_id_for
from dealwatch.services.cli import app
from dealwatch.services.config import Settings, get_settings
from dealwatch.services.ingest.pipeline import ingest_feed, ingest_registry
from dealwatch.services.kafka.topics import COMPANIES, DEAL_EVENTS, REJECTED
from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY
from tests.kafka_helpers import read_topic

SEED_LINES = [json.loads(line) for line in SEED_FEED.read_text().splitlines() if line.strip()]


def _as_csv(records: list[dict], path: Path) -> Path:
    """The same records as CSV: lists `;`-separated, objects as JSON text (spec §1)."""
    columns = sorted({k for r in records for k in r})
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for r in records:
            writer.writerow(
                {
                    k: ";".join(v)
                    if isinstance(v, list)
                    else json.dumps(v)
                    if isinstance(v, dict)
                    else str(v).lower()
                    if isinstance(v, bool)
                    else v
                    for k, v in r.items()
                }
            )
    return path


@pytest.fixture
def cli(kafka: Settings, monkeypatch: pytest.MonkeyPatch):
    """Runs `dealwatch ...` with the test's topic prefix in the environment."""
    monkeypatch.setenv("DEALWATCH_TOPIC_PREFIX", kafka.dealwatch_topic_prefix)
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


async def test_seed_feed_lands_once_keyed_by_company(kafka: Settings) -> None:
    await ingest_registry(SEED_REGISTRY, kafka)
    report = await ingest_feed([SEED_FEED], kafka)
    again = await ingest_feed([SEED_FEED], kafka)  # the same content again: nothing to send
    assert report.accepted == len(SEED_LINES) and not report.rejected
    assert again.accepted == 0 and again.duplicates == len(SEED_LINES) and not again.rejected

    messages = await read_topic(kafka, kafka.topic(DEAL_EVENTS))
    events = [DealEvent.from_bytes(m.value) for m in messages]
    assert len(messages) == len(SEED_LINES)
    assert {e.event_id for e in events} == {event_id_for(r["id"]) for r in SEED_LINES}
    for message, event in zip(messages, events, strict=True):
        assert message.key.decode() == event.record.company
        assert json.loads(message.value)["schema_version"] == 1
    by_id = {r["id"]: r for r in SEED_LINES}
    for event in events:  # the log holds the records as written, nothing lost or invented
        original = by_id[event.record.id]
        dumped = event.record.model_dump(mode="json", exclude_none=True)
        assert {k: v for k, v in original.items() if v is not None}.items() <= dumped.items()
    partitions_of = {}
    for message in messages:  # one company, one partition: per-company order is kept
        partitions_of.setdefault(message.key, set()).add(message.partition)
    assert all(len(p) == 1 for p in partitions_of.values())

    registry = await read_topic(kafka, kafka.topic(COMPANIES))
    assert len(registry) == len(SEED_REGISTRY.read_text().splitlines()) - 1


async def test_jsonl_and_csv_give_identical_events(kafka: Settings, tmp_path: Path) -> None:
    csv_path = _as_csv(SEED_LINES, tmp_path / "seed.csv")
    from_jsonl = kafka.model_copy(
        update={"dealwatch_topic_prefix": kafka.dealwatch_topic_prefix + "j."}
    )
    from_csv = kafka.model_copy(
        update={"dealwatch_topic_prefix": kafka.dealwatch_topic_prefix + "c."}
    )
    await ingest_feed([SEED_FEED], from_jsonl)
    report = await ingest_feed([csv_path], from_csv)
    assert not report.rejected, report.rejected
    jsonl = await read_topic(from_jsonl, from_jsonl.topic(DEAL_EVENTS))
    csvs = await read_topic(from_csv, from_csv.topic(DEAL_EVENTS))
    assert sorted((m.key, m.value) for m in jsonl) == sorted((m.key, m.value) for m in csvs)


BAD_FILE = """\
{"id":"ok-1","kind":"funding","date":"2024-01-05","company":"acme","amount_usd":1000000}
{"id":"bad-date","kind":"funding","date":"2024-02-30","company":"acme","amount_usd":1}
{"id":"bad-neg","kind":"funding","date":"2024-01-06","company":"acme","amount_usd":-5}
{"id":"bad-pct","kind":"layoff","date":"2024-01-07","company":"acme","pct":140}
{"id":"bad-kind","kind":"merger","date":"2024-01-07","company":"acme"}
{"id":"bad-missing","kind":"licensing","date":"2024-01-07","company":"acme"}
{"id":"bad-type","kind":"layoff","date":"2024-01-07","company":"acme","headcount":"many"}
{"id":"broken", "kind":
{"id":"bad-corr","kind":"correction","reported":"2024-01-09","fields":{"amount_usd":5}}
{"id":"ok-2","kind":"layoff","date":"2024-01-08","company":"acme","headcount":120,"pct":25}
"""

REASONS = {  # line -> words a person needs to see in the reason
    2: "2024-02-30",
    3: "amount_usd",
    4: "pct",
    5: "merger",
    6: "licensee",
    7: "headcount",
    8: "JSON",
    9: "corrects",
}


def test_bad_lines_are_rejected_with_line_and_reason(cli, kafka: Settings, tmp_path: Path) -> None:
    feed = tmp_path / "mixed.jsonl"
    feed.write_text(BAD_FILE)
    result = cli("ingest", str(feed))
    assert result.exit_code == 2, result.output
    accepted = asyncio.run(read_topic(kafka, kafka.topic(DEAL_EVENTS)))
    assert sorted(DealEvent.from_bytes(m.value).record.id for m in accepted) == ["ok-1", "ok-2"]
    rejected = [json.loads(m.value) for m in asyncio.run(read_topic(kafka, kafka.topic(REJECTED)))]
    assert sorted(r["line"] for r in rejected) == sorted(REASONS)
    for r in rejected:
        assert r["file"] == str(feed)
        assert REASONS[r["line"]].lower() in r["reason"].lower(), r
        assert f"mixed.jsonl:{r['line']}" in result.output  # the person sees it too
    assert "accepted" in result.output


def test_all_valid_exits_zero(cli, tmp_path: Path) -> None:
    feed = tmp_path / "good.jsonl"
    feed.write_text(BAD_FILE.splitlines()[0] + "\n")
    result = cli("ingest", str(feed))
    assert result.exit_code == 0, result.output


def test_broker_restart_between_ingests_loses_nothing(kafka: Settings, tmp_path) -> None:
    """Stops and starts the session's broker (the one `dealwatch kafka up` started)."""
    import asyncio

    from dealwatch.services.kafka import local as kafka_local

    first, second = SEED_LINES[:15], SEED_LINES[15:]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in first))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in second))
    asyncio.run(ingest_feed([tmp_path / "a.jsonl"], kafka))
    assert kafka_local.down(kafka), "the session broker was not started by dealwatch"
    assert not kafka_local.status(kafka).answering
    kafka_local.up(kafka)
    asyncio.run(ingest_feed([tmp_path / "b.jsonl"], kafka))
    messages = asyncio.run(read_topic(kafka, kafka.topic(DEAL_EVENTS)))
    ids = sorted(DealEvent.from_bytes(m.value).record.id for m in messages)
    assert ids == sorted(r["id"] for r in SEED_LINES)
