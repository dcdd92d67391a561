"""The project's topics, created idempotently with the right configs before anything produces."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from dealwatch.services.config import Settings
from dealwatch.services.kafka.clients import client_kwargs, topics_partitions

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
    """Create the missing topics; return warnings about existing ones that differ. Asks the
    broker about these topics only: listing every topic of a shared cluster cost each ingest
    150-230 ms on a broker with thousands of them."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        specs = topic_specs(settings)
        found = await topics_partitions(admin, [s.name for s in specs])
        missing = [s for s in specs if not found[s.name]]
        if missing:
            with suppress(TopicAlreadyExistsError):  # another process created it meanwhile
                await admin.create_topics(
                    [NewTopic(s.name, s.partitions, 1, topic_configs=s.configs) for s in missing]
                )
        return [
            f"topic {spec.name} has {len(found[spec.name])} partitions, configured "
            f"{spec.partitions}; left as is (changing it would move companies between partitions)"
            for spec in specs
            if found[spec.name] and len(found[spec.name]) != spec.partitions
        ]
    finally:
        await admin.close()
