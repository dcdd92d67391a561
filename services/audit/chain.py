"""`dealwatch audit report`: the log checked partition by partition, offset by offset.

Three independent witnesses are compared with what the broker serves now:
- the hash chain head the worker recorded with its position (`stream_positions.chain_head`):
  any message altered, inserted, deleted or reordered before that position changes the head;
- the SQL mirror (`events`), which names the first offset that is no longer what the worker
  read there;
- the record digests ingest wrote after each acknowledged event (`deal-events.digests`): a
  message no dealwatch ingest wrote (forged straight into the topic) has no matching digest.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.events.chain import GENESIS, link
from dealwatch.services.audit.processes import deal_event_partitions
from dealwatch.services.config import Settings
from dealwatch.services.db.models import Event, StreamPosition
from dealwatch.services.ingest.digest_index import DigestIndex
from dealwatch.services.kafka.log_reader import read_topic
from dealwatch.services.kafka.topics import DEAL_EVENTS

SHOWN = 10  # messages without a matching digest named per partition
CHUNK = 2_000  # mirror rows fetched, and misplaced messages looked up, at a time


@dataclass
class PartitionReport:
    """One partition of `deal-events`: what it holds and whether it is what was recorded."""

    partition: int
    first_offset: int | None = None
    last_offset: int | None = None
    kinds: Counter = field(default_factory=Counter)
    head: str = GENESIS
    recorded_next_offset: int | None = None
    recorded_head: str | None = None
    head_at_recorded: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.problems:
            return "TAMPERED"
        if self.recorded_head is None:
            return "no chain recorded"
        return "ok"


def _record_of(value: bytes | None) -> tuple[str | None, str | None, str]:
    """(event id, record id, kind) of a message, without trusting it to be valid."""
    try:
        payload = json.loads(value or b"")
        record = payload["record"]
        return payload["event_id"], record["id"], record["kind"]
    except (ValueError, KeyError, TypeError):
        return None, None, "undecodable"


async def chain_report(settings: Settings, session: AsyncSession) -> list[PartitionReport]:
    """Every partition of the log, folded into its chain and compared with SQL and digests.
    Streams each partition beside its mirror rows (offset order) and looks record ids up in
    a scratch index of the digests topic: memory does not grow with the log."""
    topic = settings.topic(DEAL_EVENTS)
    positions = {
        p.partition: p
        for p in (
            await session.execute(select(StreamPosition).where(StreamPosition.topic == topic))
        ).scalars()
    }
    in_log = set(await deal_event_partitions(settings))
    digests = await DigestIndex.open(settings, scratch=True)  # the topic, not local state
    try:
        return [
            await _check_partition(settings, session, partition, positions.get(partition), digests)
            for partition in sorted(in_log | positions.keys())
        ]
    finally:
        digests.close()


class _MirrorCheck:
    """The log against what the worker mirrored, offset by offset. A message the mirror holds
    elsewhere (a duplicate mirrored at its first position) is looked up in batches; only the
    first difference (by offset) and the count are kept, since all after it follow."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.first: tuple[int, str] | None = None
        self.count = 0
        self.unplaced: list[tuple[int, str, str]] = []  # (offset, event id, text)

    def differs(self, offset: int, problem: str) -> None:
        self.count += 1
        if self.first is None or offset < self.first[0]:
            self.first = (offset, problem)

    async def elsewhere(self, offset: int, event_id: str | None, text: str) -> None:
        if event_id is None:
            self.differs(offset, _NOT_READ.format(offset=offset))
            return
        self.unplaced.append((offset, event_id, text))
        if len(self.unplaced) >= CHUNK:
            await self.settle()

    async def settle(self) -> None:
        unplaced, self.unplaced = self.unplaced, []
        if not unplaced:
            return
        t = Event.__table__.c
        ids = sorted({event_id for _, event_id, _ in unplaced})
        rows = await self.session.execute(select(t.event_id, t.payload).where(t.event_id.in_(ids)))
        stored = {event_id: payload for event_id, payload in rows}
        for offset, event_id, text in unplaced:
            if stored.get(event_id) != text:
                self.differs(offset, _NOT_READ.format(offset=offset))

    def problems(self) -> list[str]:
        if self.first is None:
            return []
        more = self.count - 1
        return [self.first[1]] + (
            [f"{more} more offsets after it differ from the mirror"] if more else []
        )


_NOT_READ = "offset {offset}: not what the worker read there (inserted, or rebuilt topic)"


async def _check_partition(
    settings: Settings,
    session: AsyncSession,
    partition: int,
    position: StreamPosition | None,
    digests: DigestIndex,
) -> PartitionReport:
    topic = settings.topic(DEAL_EVENTS)
    report = PartitionReport(partition)
    if position is not None:
        report.recorded_next_offset = position.next_offset
        report.recorded_head = position.chain_head
    read_up_to = report.recorded_next_offset or 0
    problems: list[str] = []
    forged: list[str] = []
    unsigned = 0
    check = _MirrorCheck(session)
    t = Event.__table__.c
    mirror = aiter(
        await session.stream(
            select(t.offset, t.event_id, t.payload)
            .where(t.topic == topic, t.partition == partition)
            .order_by(t.offset)
            .execution_options(yield_per=CHUNK)
        )
    )
    here = await anext(mirror, None)
    expected_offset = 0
    async for m in read_topic(settings, topic, [partition]):
        if report.first_offset is None:
            report.first_offset = m.offset
        report.last_offset = m.offset
        event_id, record_id, kind = _record_of(m.value)
        report.kinds[kind] += 1
        if m.offset != expected_offset:
            problems.append(f"offsets {expected_offset}..{m.offset - 1} are missing from the log")
        expected_offset = m.offset + 1
        report.head = link(report.head, m.offset, m.value)
        if m.offset == read_up_to - 1:
            report.head_at_recorded = report.head
        if (problem := _forgery(m.offset, m.value, record_id, digests)) is not None:
            unsigned += 1
            if len(forged) < SHOWN:
                forged.append(problem)
        while here is not None and here[0] < m.offset:
            here = await anext(mirror, None)  # offsets the log lacks: named as a gap above
        if m.offset < read_up_to:
            text = (m.value or b"").decode("utf-8", "replace")
            if here is not None and here[0] == m.offset:
                if here[2] != text:
                    check.differs(
                        m.offset,
                        f"offset {m.offset}: differs from event {here[1]} the worker read there",
                    )
            else:
                await check.elsewhere(m.offset, event_id, text)
    await check.settle()
    log_end = expected_offset
    while here is not None:
        if here[0] >= log_end:
            check.differs(
                here[0],
                f"offset {here[0]}: the worker read event {here[1]} here; "
                "the log no longer has it (deleted, or the topic was rebuilt)",
            )
        here = await anext(mirror, None)
    problems.extend(forged)
    if unsigned > len(forged):
        problems.append(f"{unsigned - len(forged)} more messages have no matching digest")
    problems.extend(check.problems())
    if read_up_to > log_end:
        problems.append(
            f"the worker read up to offset {read_up_to - 1}; the log ends at {log_end - 1}"
        )
    if report.recorded_head is not None and read_up_to <= log_end:
        recomputed = report.head_at_recorded if read_up_to else GENESIS
        if recomputed != report.recorded_head:
            problems.append(
                f"chain head at offset {read_up_to - 1} is {recomputed[:16]}…, the worker "
                f"recorded {report.recorded_head[:16]}…: the log before it was changed"
            )
    report.problems = [f"partition {partition}, {p}" for p in problems]
    return report


def _forgery(
    offset: int, value: bytes | None, record_id: str | None, digests: DigestIndex
) -> str | None:
    if record_id is None:
        return f"offset {offset}: undecodable, not written by dealwatch ingest"
    digest = digests.get(record_id)
    if digest is None or digest.sha256 != hashlib.sha256(value or b"").hexdigest():
        return (
            f"offset {offset}: record {record_id!r} was not written by dealwatch ingest "
            "(no matching digest in deal-events.digests)"
        )
    return None
