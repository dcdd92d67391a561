"""`dealwatch audit export`: the effective log as known at a day, for an external auditor.

Each effective record carries its event id, the partition and offset of the event that put it
in the log, and the chain head right after that message; `manifest.json` gives each
partition's offsets, message count and final chain head, and the SHA-256 of every file, so the
auditor can re-fold the chain (events/chain.py) over the topic and check both."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from events.chain import GENESIS, link
from events.envelope import DealEvent
from events.serialization import canonical_json
from projections.effective import LoggedEvent, effective_view
from services.config import Settings
from services.log_reader import read_topic
from services.topics import DEAL_EVENTS

FORMATS = ("jsonl", "csv", "parquet")
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
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    partitions: dict[int, dict] = defaultdict(
        lambda: {"first_offset": None, "last_offset": None, "messages": 0, "chain_head": GENESIS}
    )
    events: list[LoggedEvent] = []
    heads: dict[tuple[int, int], str] = {}
    async for m in read_topic(settings, settings.topic(DEAL_EVENTS)):
        part = partitions[m.partition]
        part["chain_head"] = link(part["chain_head"], m.offset, m.value)
        part["messages"] += 1
        part["first_offset"] = m.offset if part["first_offset"] is None else part["first_offset"]
        part["last_offset"] = m.offset
        heads[(m.partition, m.offset)] = part["chain_head"]
        try:
            events.append(LoggedEvent(DealEvent.from_bytes(m.value), (m.partition, m.offset)))
        except ValueError:
            continue  # counted and chained; the audit report names it
    view = effective_view(events, known_at)
    position = {e.event.event_id: e.position for e in events}
    rows = []
    for record_id, record in sorted(view.records.items()):
        lineage = view.lineage[record_id]
        partition, offset = position[lineage[0]]
        rows.append(
            {
                "record_id": record_id,
                "kind": record.kind,
                "date": record.date.isoformat() if record.date else None,
                "reported": record.known_on.isoformat(),
                "company": record.company,
                "event_id": lineage[0],
                "partition": partition,
                "offset": offset,
                "chain_head": heads[(partition, offset)],
                "lineage": json.dumps(list(lineage)),
                "record": canonical_json(record.model_dump(mode="json")).decode(),
            }
        )
    output.mkdir(parents=True, exist_ok=True)
    data = output / f"effective-log.{fmt}"
    _WRITERS[fmt](rows, data)
    manifest = output / "manifest.json"
    manifest.write_bytes(
        canonical_json(
            {
                "topic": settings.topic(DEAL_EVENTS),
                "known_at": known_at.isoformat() if known_at else None,
                "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "records": len(rows),
                "partitions": {str(p): partitions[p] for p in sorted(partitions)},
                "chain": "head = sha256(head_prev || offset as 8 bytes big-endian || "
                "sha256(value)); genesis = 64 zeros (events/chain.py)",
                "files": {data.name: hashlib.sha256(data.read_bytes()).hexdigest()},
            }
        )
    )
    return ExportResult(len(rows), [data], manifest)


def _jsonl(rows: list[dict], path: Path) -> None:
    with path.open("wb") as out:
        for row in rows:
            out.write(canonical_json({**row, "record": json.loads(row["record"])}) + b"\n")


def _csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _parquet(rows: list[dict], path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ExportError(
            "parquet needs pyarrow: pip install 'dealwatch[audit]' (or use jsonl or csv)"
        ) from error
    table = pa.table({c: [r[c] for r in rows] for c in COLUMNS})
    pq.write_table(table, path)


_WRITERS = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}
