"""`dealwatch ingest`: feed files and the company registry into the log, line by line.

Every line is accepted or rejected on its own: a bad line (however hostile) never costs the
lines around it, and a record the broker refuses is rejected with the broker's reason. Only a
broker that stops answering ends the run, as a Kafka error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidMessageError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)

from dealwatch.events.envelope import DealEvent
from dealwatch.events.feed import Accepted, Rejected, read_feed, read_registry
from dealwatch.events.records import Correction
from dealwatch.events.registry import Company
from dealwatch.events.serialization import canonical_json
from dealwatch.services.config import Settings
from dealwatch.services.ingest.digest_index import DigestIndex
from dealwatch.services.ingest.record_digests import RecordDigest, digest_of
from dealwatch.services.kafka.producer import log_producer
from dealwatch.services.kafka.topics import COMPANIES, DEAL_EVENTS, DIGESTS, REJECTED, ensure_topics

Advance = Callable[[int], None]
_IN_FLIGHT = 5_000
#: Errors about one record, not about the broker: that record is rejected, the run goes on.
RECORD_REFUSED = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    InvalidMessageError,
    UnsupportedForMessageFormatError,
)


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
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return total


def _headers(origin: str, line: int) -> list[tuple[str, bytes]]:
    return [("dealwatch-source", f"{Path(origin).name or origin}:{line}".encode())]


@dataclass(frozen=True)
class _InFlight:
    """An event sent and not yet acknowledged, with what to do once it is."""

    origin: str
    item: Accepted
    digest: RecordDigest


class _FeedWriter:
    """Sends events with bounded in-flight futures; records each event's digest once the broker
    acknowledged it; turns a broker's refusal of one record into a rejection of that line."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        settings: Settings,
        report: IngestReport,
        known: DigestIndex,
    ) -> None:
        self.producer = producer
        self.settings = settings
        self.report = report
        self.known = known
        self.pending: list[tuple[asyncio.Future, _InFlight]] = []

    async def event(self, origin: str, item: Accepted) -> None:
        """Check one accepted record against what the log holds, then send it."""
        record = item.record
        event = DealEvent.of(record)
        value = event.to_bytes()
        digest = digest_of(value)
        first = self.known.get(record.id)
        if first is not None:
            if first.sha256 == digest:
                self.report.duplicates += 1
                return
            await self.reject(origin, _conflict(item, first))
            return
        key = event.key
        if isinstance(record, Correction) and record.company is None:
            target = self.known.get(record.corrects)
            key = target.company if target and target.company else key
        in_flight = _InFlight(origin, item, RecordDigest(digest, f"{origin}:{item.line}", key))
        self.known.add(record.id, in_flight.digest)
        self.report.accepted += 1
        try:
            future = await self.producer.send(
                self.settings.topic(DEAL_EVENTS),
                value=value,
                key=key.encode(),
                headers=_headers(origin, item.line),
            )
        except RECORD_REFUSED as error:
            await self._refused(in_flight, error)
            return
        self.pending.append((future, in_flight))
        if len(self.pending) >= _IN_FLIGHT:
            await self.drain()

    async def reject(self, origin: str, item: Rejected) -> None:
        self.report.rejected.append((origin, item))
        rejection = {
            "file": origin,
            "line": item.line,
            "record_id": item.record_id,
            "reason": item.reason,
            "raw": item.raw,
        }
        await self.producer.send(
            self.settings.topic(REJECTED),
            value=canonical_json(rejection),
            key=(Path(origin).name or origin).encode(),
            headers=_headers(origin, item.line),
        )

    async def drain(self) -> None:
        """Wait for every event sent; then record the digests of those the broker took."""
        pending, self.pending = self.pending, []
        outcomes = await asyncio.gather(*(f for f, _ in pending), return_exceptions=True)
        digests = []
        for (_, in_flight), outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, RECORD_REFUSED):
                await self._refused(in_flight, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome  # the broker, not the record: stop, as a Kafka error
            else:
                record_id = in_flight.item.record.id
                digests.append(
                    await self.producer.send(
                        self.settings.topic(DIGESTS),
                        value=in_flight.digest.to_bytes(),
                        key=record_id.encode(),
                    )
                )
        await asyncio.gather(*digests)

    async def _refused(self, in_flight: _InFlight, error: Exception) -> None:
        item = in_flight.item
        self.report.accepted -= 1
        self.known.discard(item.record.id)
        reason = f"the broker refused the record: {error.__class__.__name__}: {error}"
        await self.reject(in_flight.origin, Rejected(item.line, item.record.id, reason, item.raw))


def _conflict(item: Accepted, first: RecordDigest) -> Rejected:
    record_id = item.record.id
    return Rejected(
        item.line,
        record_id,
        f"id {record_id!r} is already in the log (from {first.source}) with other content; "
        f"a record never changes: send a correction "
        f'({{"kind": "correction", "corrects": "{record_id}", "reported": ..., '
        f'"fields": {{...}}}}) or use a new id',
        item.raw,
    )


async def ingest_feed(
    paths: list[Path], settings: Settings, advance: Advance | None = None
) -> IngestReport:
    """Validate every line; valid ones go to `deal-events`, invalid ones to the rejected topic."""
    items = ((str(path), item) for path in paths for item in read_feed(path))
    return await ingest_items(items, settings, advance)


async def ingest_items(
    items: Iterable[tuple[str, Accepted | Rejected]],
    settings: Settings,
    advance: Advance | None = None,
) -> IngestReport:
    """Validated items from any origin (a file path, a source's item address) into the log,
    with the same checks and idempotent producer as a feed file."""
    async with Ingest(settings) as ingest:
        for origin, item in items:
            await ingest.put(origin, item)
            if advance:
                advance(1)
    return ingest.report


class Ingest:
    """An ingest session: topics ensured, the digest index opened and a producer started once;
    then items put one by one, each accepted one checked against what the log holds, sent, and
    its digest recorded once the broker has it (`flush`, and on exit)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.report = IngestReport()
        self._stack = contextlib.AsyncExitStack()
        self._writer: _FeedWriter | None = None
        self._started = 0.0

    async def __aenter__(self) -> Ingest:
        self.report.warnings = await ensure_topics(self.settings)
        self._started = time.perf_counter()
        async with contextlib.AsyncExitStack() as stack:
            known = await DigestIndex.open(self.settings)  # only what the topic gained since
            stack.callback(known.close)
            producer = await stack.enter_async_context(log_producer(self.settings))
            self._writer = _FeedWriter(producer, self.settings, self.report, known)
            self._stack = stack.pop_all()
        return self

    async def put(self, origin: str, item: Accepted | Rejected) -> None:
        assert self._writer is not None, "use `async with Ingest(settings)`"
        if isinstance(item, Accepted):
            await self._writer.event(origin, item)
        else:
            await self._writer.reject(origin, item)

    async def flush(self) -> None:
        """Wait for what was sent, and record its digests."""
        assert self._writer is not None
        await self._writer.drain()

    async def __aexit__(self, kind, error, traceback) -> None:
        try:
            if kind is None:
                await self.flush()
        finally:
            await self._stack.aclose()
            self.report.seconds = time.perf_counter() - self._started


async def ingest_registry(path: Path, settings: Settings) -> IngestReport:
    """Registry rows to the compacted `companies` topic, keyed by slug."""
    report = IngestReport()
    report.warnings = await ensure_topics(settings)
    started = time.perf_counter()
    async with log_producer(settings) as producer:
        sends = []
        for item in read_registry(path):
            if isinstance(item, Rejected):
                report.rejected.append((str(path), item))
                continue
            sends.append(await _send_company(producer, settings, item.record, str(path), item.line))
            report.accepted += 1
        await asyncio.gather(*sends)
    report.seconds = time.perf_counter() - started
    return report


async def put_company(company: Company, origin: str, settings: Settings) -> None:
    """One registry entry to the `companies` topic, replacing the slug's previous one (an
    alias added at the command line, say); acknowledged before this returns."""
    await ensure_topics(settings)
    async with log_producer(settings) as producer:
        await (await _send_company(producer, settings, company, origin, 1))


async def _send_company(producer, settings: Settings, company: Company, origin: str, line: int):
    return await producer.send(
        settings.topic(COMPANIES),
        value=canonical_json(company.model_dump(mode="json")),
        key=company.slug.encode(),
        headers=_headers(origin, line),
    )
