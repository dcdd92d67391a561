"""The project's topics, created idempotently with the right configs before anything produces."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.config import Settings
from services.kafka_clients import client_kwargs

DEAL_EVENTS = "deal-events"
COMPANIES = "companies"
REJECTED = "deal-events.rejected"
DIGESTS = "deal-events.digests"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The log is the system of record: nothing expires; the registry and the record digests
    (what ingest checks a re-sent id against) are compacted, one value per key."""
    forever = {"retention.ms": "-1", "retention.bytes": "-1"}
    return [
        TopicSpec(settings.topic(DEAL_EVENTS), settings.dealwatch_partitions, forever),
        TopicSpec(settings.topic(COMPANIES), 1, {"cleanup.policy": "compact"}),
        TopicSpec(settings.topic(REJECTED), 1, forever),
        TopicSpec(settings.topic(DIGESTS), 1, {"cleanup.policy": "compact"}),
    ]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; return warnings about existing ones that differ."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        specs = topic_specs(settings)
        missing = [s for s in specs if s.name not in existing]
        if missing:
            with suppress(TopicAlreadyExistsError):  # another process created it meanwhile
                await admin.create_topics(
                    [NewTopic(s.name, s.partitions, 1, topic_configs=s.configs) for s in missing]
                )
        return await _differences(admin, [s for s in specs if s.name in existing])
    finally:
        await admin.close()


async def _differences(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> list[str]:
    if not specs:
        return []
    warnings = []
    described = await admin.describe_topics([s.name for s in specs])
    partitions = {t["topic"]: len(t["partitions"]) for t in described}
    for spec in specs:
        have = partitions.get(spec.name)
        if have is not None and have != spec.partitions:
            warnings.append(
                f"topic {spec.name} has {have} partitions, configured {spec.partitions}; "
                "left as is (changing it would move companies between partitions)"
            )
    return warnings
