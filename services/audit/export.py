"""`dealwatch audit export`: the effective log as known at a day, for an external auditor.

Each effective record carries its event id, the partition and offset of the event that put it
in the log, and the chain head right after that message; `manifest.json` gives each
partition's offsets, message count and final chain head, and the SHA-256 of every file, so the
auditor can re-fold the chain (events/chain.py) over the topic and check both."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import json
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dealwatch.events.chain import GENESIS, link
from dealwatch.events.envelope import DealEvent
from dealwatch.events.serialization import canonical_json
from dealwatch.projections.effective import LoggedEvent
from dealwatch.projections.record_fold import fold_record, target_of
from dealwatch.services.config import Settings
from dealwatch.services.db.string_lists import string_list
from dealwatch.services.kafka.log_reader import read_topic
from dealwatch.services.kafka.topics import DEAL_EVENTS

FORMATS = ("jsonl", "csv", "parquet")
CHUNK = 5_000  # messages inserted, and parquet rows written, at a time
COLUMNS = (
    "record_id",
    "kind",
    "date",
    "reported",
    "company",
    "event_id",
    "partition",
    "offset",
    "chain_head",
    "lineage",
    "record",
)


class ExportError(Exception):
    """The export cannot be written; the message says why."""


@dataclass(frozen=True)
class ExportResult:
    records: int
    files: list[Path]
    manifest: Path


async def export_log(
    settings: Settings, known_at: dt.date | None, fmt: str, output: Path
) -> ExportResult:
    """Read the log into a scratch SQLite file keyed by target record, then fold and write one
    record at a time: memory holds one record's events, never the log."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    writer = _WRITERS[fmt]
    output.mkdir(parents=True, exist_ok=True)
    data = output / f"effective-log.{fmt}"
    with tempfile.TemporaryDirectory(prefix="dealwatch-export-") as scratch:
        db = sqlite3.connect(Path(scratch) / "log.sqlite", isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute(
                "CREATE TABLE log (target TEXT, partition INTEGER, offset INTEGER, "
                "payload BLOB, chain_head TEXT)"
            )
            partitions = await _load(settings, db)
            db.execute("CREATE INDEX by_target ON log (target, partition, offset)")
            records = writer(_rows(db, known_at), data)
        finally:
            db.close()
    manifest = output / "manifest.json"
    with data.open("rb") as handle:
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    manifest.write_bytes(
        canonical_json(
            {
                "topic": settings.topic(DEAL_EVENTS),
                "known_at": known_at.isoformat() if known_at else None,
                "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "records": records,
                "partitions": {str(p): partitions[p] for p in sorted(partitions)},
                "chain": "head = sha256(head_prev || offset as 8 bytes big-endian || "
                "sha256(value)); genesis = 64 zeros (events/chain.py)",
                "files": {data.name: sha256},
            }
        )
    )
    return ExportResult(records, [data], manifest)


async def _load(settings: Settings, db: sqlite3.Connection) -> dict[int, dict]:
    """Every message into `log` with the chain head after it; per partition, its offsets,
    message count and final head. Undecodable messages are chained and counted only."""
    partitions: dict[int, dict] = defaultdict(
        lambda: {"first_offset": None, "last_offset": None, "messages": 0, "chain_head": GENESIS}
    )
    rows: list[tuple] = []
    async for m in read_topic(settings, settings.topic(DEAL_EVENTS)):
        part = partitions[m.partition]
        part["chain_head"] = link(part["chain_head"], m.offset, m.value)
        part["messages"] += 1
        part["first_offset"] = m.offset if part["first_offset"] is None else part["first_offset"]
        part["last_offset"] = m.offset
        target = _target(m.value)
        if target is not None:
            rows.append((target, m.partition, m.offset, m.value, part["chain_head"]))
        if len(rows) >= CHUNK:
            _insert(db, rows)
            rows = []
    _insert(db, rows)
    return partitions


def _target(value: bytes | None) -> str | None:
    try:
        return target_of(DealEvent.from_bytes(value or b"").record)
    except ValueError:
        return None  # counted and chained; the audit report names it


def _insert(db: sqlite3.Connection, rows: list[tuple]) -> None:
    db.execute("BEGIN")
    db.executemany("INSERT INTO log VALUES (?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")


def _rows(db: sqlite3.Connection, known_at: dt.date | None) -> Iterator[dict]:
    """The effective records in record id order, each folded from its own events."""
    cursor = db.execute(
        "SELECT target, partition, offset, payload, chain_head FROM log "
        "ORDER BY target, partition, offset"
    )
    for target, group in itertools.groupby(cursor, key=lambda row: row[0]):
        events, heads = [], {}
        for _, partition, offset, payload, head in group:
            events.append(LoggedEvent(DealEvent.from_bytes(payload), (partition, offset)))
            heads[(partition, offset)] = head
        fold = fold_record(target, events, known_at)
        record = fold.record
        if record is None or fold.retracted:
            continue
        first = fold.lineage[0]
        partition, offset = min(e.position for e in events if e.event.event_id == first)
        yield {
            "record_id": target,
            "kind": record.kind,
            "date": record.date.isoformat() if record.date else None,
            "reported": record.known_on.isoformat(),
            "company": record.company,
            "event_id": first,
            "partition": partition,
            "offset": offset,
            "chain_head": heads[(partition, offset)],
            "lineage": string_list(fold.lineage),
            "record": canonical_json(record.model_dump(mode="json")).decode(),
        }


def _jsonl(rows: Iterable[dict], path: Path) -> int:
    count = 0
    with path.open("wb") as out:
        for row in rows:
            out.write(canonical_json({**row, "record": json.loads(row["record"])}) + b"\n")
            count += 1
    return count


def _csv(rows: Iterable[dict], path: Path) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _parquet(rows: Iterable[dict], path: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ExportError(
            "parquet needs pyarrow: pip install 'dealwatch[audit]' (or use jsonl or csv)"
        ) from error
    schema = pa.schema(
        [(c, pa.int64() if c in ("partition", "offset") else pa.string()) for c in COLUMNS]
    )
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in _batched(rows):
            writer.write_table(pa.table({c: [r[c] for r in batch] for c in COLUMNS}, schema=schema))
            count += len(batch)
    return count


def _batched(rows: Iterable[dict]) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


_WRITERS = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}
