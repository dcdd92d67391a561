"""The local index of `deal-events.digests` (services/ingest/digest_index.py), against the real
broker: it reads only what the topic gained since it last did, answers what the topic says,
and rebuilds itself from the topic when its file no longer matches (or is not a database)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from dealwatch.events.envelope import DealEvent
from dealwatch.events.records import parse_record
from dealwatch.services.config import Settings
from dealwatch.services.ingest.digest_index import DigestIndex, index_path
from dealwatch.services.ingest.pipeline import ingest_feed
from dealwatch.services.ingest.record_digests import digest_of


def _feed(path: Path, first: int, count: int) -> Path:
    lines = [
        {
            "id": f"round-{i}",
            "kind": "funding",
            "date": "2024-05-01",
            "company": f"startup-{i % 7}",
            "amount_usd": 1e6 * (i + 1),
            "investors": ["fund"],
        }
        for i in range(first, first + count)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _sha(i: int, path: Path) -> str:
    line = json.loads(path.read_text().splitlines()[0])
    assert line["id"] == f"round-{i}"
    return digest_of(DealEvent.of(parse_record(line)).to_bytes())


def _open(settings: Settings) -> DigestIndex:
    return asyncio.run(DigestIndex.open(settings))


def test_the_index_reads_only_what_the_topic_gained(kafka: Settings, tmp_path: Path) -> None:
    settings = kafka.model_copy(update={"dealwatch_home": tmp_path / "home"})
    first = _feed(tmp_path / "first.jsonl", 0, 40)
    asyncio.run(ingest_feed([first], settings))
    index = _open(settings)
    try:
        assert index.read == 40
        found = index.get("round-0")
        assert found is not None and found.sha256 == _sha(0, first)
        assert found.source.endswith("first.jsonl:1") and found.company == "startup-0"
        assert index.get("round-40") is None
    finally:
        index.close()

    second = _feed(tmp_path / "second.jsonl", 40, 5)
    asyncio.run(ingest_feed([second], settings))
    index = _open(settings)
    try:
        assert index.read == 5  # the 40 before were not read again
        assert all(index.get(f"round-{i}") is not None for i in range(45))
        assert index.get("round-40").sha256 == _sha(40, second)
    finally:
        index.close()
    assert _open(settings).read == 0  # nothing new


def test_an_index_that_no_longer_matches_the_topic_is_rebuilt(
    kafka: Settings, tmp_path: Path
) -> None:
    settings = kafka.model_copy(update={"dealwatch_home": tmp_path / "home"})
    asyncio.run(ingest_feed([_feed(tmp_path / "feed.jsonl", 0, 30)], settings))
    _open(settings).close()
    path = index_path(settings)

    with sqlite3.connect(path) as db:  # the topic "changed" under the last indexed message
        db.execute("UPDATE positions SET last_message = 'other' WHERE partition = 0")
        db.execute("DELETE FROM digests WHERE record_id = 'round-3'")
    index = _open(settings)
    assert index.read == 30 and index.get("round-3") is not None
    index.close()

    with sqlite3.connect(path) as db:  # it indexed further than the topic now goes
        db.execute("UPDATE positions SET last_offset = last_offset + 1000")
    index = _open(settings)
    assert index.read == 30
    index.close()

    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"not a database at all" * 100)
    index = _open(settings)
    assert index.read == 30 and index.get("round-29") is not None
    index.close()


def test_a_scratch_index_ignores_local_state(kafka: Settings, tmp_path: Path) -> None:
    settings = kafka.model_copy(update={"dealwatch_home": tmp_path / "home"})
    asyncio.run(ingest_feed([_feed(tmp_path / "feed.jsonl", 0, 12)], settings))
    index = asyncio.run(DigestIndex.open(settings, scratch=True))
    where = index.path
    try:
        assert index.read == 12 and index.get("round-11") is not None
        assert where != index_path(settings)
    finally:
        index.close()
    assert not where.exists()
