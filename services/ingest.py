"""`dealwatch ingest`: feed files and the company registry into the log, line by line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer

from events.envelope import DealEvent
from events.feed import Accepted, Rejected, read_feed, read_registry
from events.records import Correction
from events.serialization import canonical_json
from services.config import Settings
from services.producer import log_producer
from services.topics import COMPANIES, DEAL_EVENTS, REJECTED, ensure_topics

Advance = Callable[[int], None]
_IN_FLIGHT = 5_000


@dataclass
class IngestReport:
    """What one ingest run did."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, Rejected]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return (self.accepted + self.duplicates) / self.seconds if self.seconds else 0.0


def count_lines(paths: Iterable[Path]) -> int:
    """Lines to read, for the progress bar."""
    total = 0
    for path in paths:
        with path.open("rb") as handle:
            total += sum(1 for _ in handle)
    return total


class _Sender:
    """Sends with bounded in-flight futures; every send is awaited before the run ends."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.pending: list[asyncio.Future] = []

    async def send(self, topic: str, key: str, value: bytes, headers: list) -> None:
        self.pending.append(
            await self.producer.send(topic, value=value, key=key.encode(), headers=headers)
        )
        if len(self.pending) >= _IN_FLIGHT:
            await self.drain()

    async def drain(self) -> None:
        pending, self.pending = self.pending, []
        await asyncio.gather(*pending)


def _headers(path: Path, line: int) -> list[tuple[str, bytes]]:
    return [("dealwatch-source", f"{path.name}:{line}".encode())]


def _rejection(path: Path, item: Rejected) -> bytes:
    return canonical_json(
        {
            "file": str(path),
            "line": item.line,
            "record_id": item.record_id,
            "reason": item.reason,
            "raw": item.raw,
        }
    )


async def ingest_feed(
    paths: list[Path], settings: Settings, advance: Advance | None = None
) -> IngestReport:
    """Validate every line; valid ones go to `deal-events`, invalid ones to the rejected topic."""
    report = IngestReport()
    report.warnings = await ensure_topics(settings)
    started = time.perf_counter()
    seen: dict[str, tuple[bytes, str]] = {}
    companies: dict[str, str] = {}
    async with log_producer(settings) as producer:
        sender = _Sender(producer)
        for path in paths:
            for item in read_feed(path):
                if isinstance(item, Accepted):
                    item = await _send_event(sender, settings, path, item, seen, companies, report)
                if isinstance(item, Rejected):
                    report.rejected.append((str(path), item))
                    await sender.send(
                        settings.topic(REJECTED),
                        path.name,
                        _rejection(path, item),
                        _headers(path, item.line),
                    )
                if advance:
                    advance(1)
        await sender.drain()
    report.seconds = time.perf_counter() - started
    return report


async def _send_event(sender, settings, path, item, seen, companies, report) -> Rejected | None:
    """Send one accepted record; a reused id with other content is rejected, not sent."""
    record = item.record
    event = DealEvent.of(record)
    value = event.to_bytes()
    where = f"{path.name}:{item.line}"
    if record.id in seen:
        first_value, first_where = seen[record.id]
        if first_value == value:
            report.duplicates += 1
            return None
        return Rejected(
            item.line,
            record.id,
            f"id {record.id!r} was already used at {first_where} with other content; "
            "send a correction to change a record",
            item.raw,
        )
    seen[record.id] = (value, where)
    key = event.key
    if isinstance(record, Correction) and record.company is None:
        key = companies.get(record.corrects, key)
    else:
        companies[record.id] = record.company
    await sender.send(settings.topic(DEAL_EVENTS), key, value, _headers(path, item.line))
    report.accepted += 1
    return None


async def ingest_registry(path: Path, settings: Settings) -> IngestReport:
    """Registry rows to the compacted `companies` topic, keyed by slug."""
    report = IngestReport()
    report.warnings = await ensure_topics(settings)
    started = time.perf_counter()
    async with log_producer(settings) as producer:
        sender = _Sender(producer)
        for item in read_registry(path):
            if isinstance(item, Rejected):
                report.rejected.append((str(path), item))
                continue
            company = item.record
            await sender.send(
                settings.topic(COMPANIES),
                company.slug,
                canonical_json(company.model_dump(mode="json")),
                _headers(path, item.line),
            )
            report.accepted += 1
        await sender.drain()
    report.seconds = time.perf_counter() - started
    return report
