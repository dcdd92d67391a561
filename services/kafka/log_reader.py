"""Read the whole log straight from Kafka (no consumer group), for audits and replays."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from dealwatch.events.envelope import DealEvent
from dealwatch.events.registry import Company
from dealwatch.projections.effective import LoggedEvent
from dealwatch.services.config import Settings
from dealwatch.services.kafka.clients import client_kwargs, topic_partitions
from dealwatch.services.kafka.topics import COMPANIES, DEAL_EVENTS


@dataclass
class LogSnapshot:
    """The events and the registry as the log holds them now."""

    events: list[LoggedEvent] = field(default_factory=list)
    registry: dict[str, Company] = field(default_factory=dict)
    messages: int = 0
    undecodable: list[str] = field(default_factory=list)


async def read_topic(
    settings: Settings,
    topic: str,
    partitions: Collection[int] | None = None,
    start: Mapping[int, int] | None = None,
):
    """Yield every message of `topic` (of its `partitions`, when given) from the beginning (or
    from `start[partition]`, where given) to its current end."""
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(topic, p)
            for p in await topic_partitions(consumer, topic)
            if partitions is None or p in partitions
        ]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        first = {tp: (start or {}).get(tp.partition, 0) for tp in tps}
        for tp, offset in first.items():
            if offset > 0:
                consumer.seek(tp, offset)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > first[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset < ends[tp]:
                        yield message
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


async def read_log(settings: Settings) -> LogSnapshot:
    """Every event of `deal-events` with its (partition, offset), and the registry."""
    snapshot = LogSnapshot()
    async for m in read_topic(settings, settings.topic(DEAL_EVENTS)):
        snapshot.messages += 1
        try:
            event = DealEvent.from_bytes(m.value)
        except ValueError as error:
            snapshot.undecodable.append(f"{m.topic}[{m.partition}]@{m.offset}: {error}")
            continue
        snapshot.events.append(LoggedEvent(event, (m.partition, m.offset)))
    snapshot.registry = await read_registry(settings)
    return snapshot


async def read_registry(settings: Settings) -> dict[str, Company]:
    """The registry as the compacted `companies` topic holds it now (tombstones remove)."""
    registry: dict[str, Company] = {}
    async for m in read_topic(settings, settings.topic(COMPANIES)):
        slug = m.key.decode()
        if m.value is None:
            registry.pop(slug, None)
        else:
            registry[slug] = Company.model_validate(json.loads(m.value))
    return registry
