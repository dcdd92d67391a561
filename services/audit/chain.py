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
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from events.chain import GENESIS, link
from services.config import Settings
from services.db.models import Event, StreamPosition
from services.log_reader import read_topic
from services.record_digests import RecordDigest, load_digests
from services.topics import DEAL_EVENTS

SHOWN = 10  # problems printed per partition


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


@dataclass(frozen=True)
class _Logged:
    offset: int
    value: bytes | None


def _record_of(value: bytes | None) -> tuple[str | None, str | None, str]:
    """(event id, record id, kind) of a message, without trusting it to be valid."""
    try:
        payload = json.loads(value or b"")
        record = payload["record"]
        return payload["event_id"], record["id"], record["kind"]
    except (ValueError, KeyError, TypeError):
        return None, None, "undecodable"


async def chain_report(settings: Settings, session: AsyncSession) -> list[PartitionReport]:
    """Every partition of the log, folded into its chain and compared with SQL and digests."""
    topic = settings.topic(DEAL_EVENTS)
    by_partition: dict[int, list[_Logged]] = defaultdict(list)
    async for message in read_topic(settings, topic):
        by_partition[message.partition].append(_Logged(message.offset, message.value))
    positions = {
        p.partition: p
        for p in (
            await session.execute(select(StreamPosition).where(StreamPosition.topic == topic))
        ).scalars()
    }
    digests = await load_digests(settings)
    mirrors: dict[int, dict[int, tuple[str, str]]] = defaultdict(dict)
    mirrored_ids: dict[str, str] = {}
    rows = await session.execute(
        select(Event.event_id, Event.partition, Event.offset, Event.payload).where(
            Event.topic == topic
        )
    )
    for event_id, partition, offset, payload in rows:
        mirrors[partition][offset] = (event_id, payload)
        mirrored_ids[event_id] = payload
    return [
        _check_partition(
            partition,
            by_partition.get(partition, []),
            positions.get(partition),
            mirrors[partition],
            mirrored_ids,
            digests,
        )
        for partition in sorted(by_partition.keys() | positions.keys())
    ]


def _check_partition(
    partition: int,
    messages: list[_Logged],
    position: StreamPosition | None,
    mirror: dict[int, tuple[str, str]],
    mirrored_ids: dict[str, str],
    digests: dict[str, RecordDigest],
) -> PartitionReport:
    report = PartitionReport(partition)
    if position is not None:
        report.recorded_next_offset = position.next_offset
        report.recorded_head = position.chain_head
    read_up_to = report.recorded_next_offset or 0
    problems: list[str] = []
    shifted: list[str] = []  # after the first divergence from the mirror, the rest follow
    expected_offset = 0
    for m in messages:
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
        problems.extend(_forgery(m, record_id, digests))
        if m.offset < read_up_to:
            shifted.extend(_against_mirror(m, event_id, mirror, mirrored_ids))
    log_end = expected_offset
    shifted.extend(
        f"offset {offset}: the worker read event {mirror[offset][0]} here; "
        "the log no longer has it (deleted, or the topic was rebuilt)"
        for offset in sorted(o for o in mirror if o >= log_end)
    )
    if shifted:
        problems.append(shifted[0])
        if len(shifted) > 1:
            problems.append(f"{len(shifted) - 1} more offsets after it differ from the mirror")
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


def _forgery(m: _Logged, record_id: str | None, digests: dict[str, RecordDigest]) -> list[str]:
    if record_id is None:
        return [f"offset {m.offset}: undecodable, not written by dealwatch ingest"]
    digest = digests.get(record_id)
    if digest is None or digest.sha256 != hashlib.sha256(m.value or b"").hexdigest():
        return [
            f"offset {m.offset}: record {record_id!r} was not written by dealwatch ingest "
            "(no matching digest in deal-events.digests)"
        ]
    return []


def _against_mirror(
    m: _Logged,
    event_id: str | None,
    mirror: dict[int, tuple[str, str]],
    mirrored_ids: dict[str, str],
) -> list[str]:
    text = (m.value or b"").decode("utf-8", "replace")
    here = mirror.get(m.offset)
    if here is not None:
        if here[1] == text:
            return []
        return [f"offset {m.offset}: differs from event {here[0]} the worker read there"]
    if event_id is not None and mirrored_ids.get(event_id) == text:
        return []  # a duplicate of an event mirrored at its first position
    return [f"offset {m.offset}: not what the worker read there (inserted, or rebuilt topic)"]
