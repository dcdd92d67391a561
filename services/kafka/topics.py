"""The project's topics, created idempotently with the right configs before anything produces."""

from __future__ import annotations

from dataclasses import dataclass

import aiokafka.errors as Errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from dealwatch.services.config import Settings
from dealwatch.services.kafka.clients import client_kwargs, topics_replicas

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


def replication_factor(settings: Settings, brokers: int) -> int:
    """Replicas of each project topic: DEALWATCH_REPLICATION_FACTOR, else min(3, brokers), so
    that a lost disk loses no part of the system of record once the cluster has three nodes."""
    return settings.dealwatch_replication_factor or min(3, brokers)


def replicated(spec: TopicSpec, replicas: int) -> NewTopic:
    """With 3 or more replicas, `acks=all` waits for 2 in sync: one broker may be down (or
    slow) and writes go on, and an acknowledged write survives the loss of any one broker."""
    configs = dict(spec.configs)
    if replicas >= 3:
        configs["min.insync.replicas"] = "2"
    return NewTopic(spec.name, spec.partitions, replicas, topic_configs=configs)


def replication_warnings(
    specs: list[TopicSpec], replicas: dict[str, dict[int, int]], wanted: int, brokers: int
) -> list[str]:
    """Existing topics with fewer replicas than the cluster should give them, and the fix."""
    warnings = []
    for spec in specs:
        fewest = min(replicas[spec.name].values(), default=wanted)
        if fewest < wanted:
            warnings.append(
                f"topic {spec.name} has {fewest} replica(s) of some partitions on a cluster of "
                f"{brokers} broker(s), {wanted} wanted: a lost disk would lose part of the log. "
                "Add replicas in place with kafka-reassign-partitions and set "
                "min.insync.replicas=2 (docs/cluster.md, 'Replicated topics')"
            )
    return warnings


class TopicsNotCreated(KafkaError):
    """The cluster refused to create a topic (too few brokers for the replicas, a policy)."""


def refused_creation(response, replicas: int, brokers: int) -> None:
    """Raise for any topic the broker did not create (one created meanwhile by another process
    is fine), naming the topic and the broker's reason."""
    refused = []
    for topic, code, *message in response.topic_errors:
        error = Errors.for_code(code)
        if error in (Errors.NoError, TopicAlreadyExistsError):
            continue
        said = (message[0] if message else None) or error.__name__
        refused.append(f"{topic}: {said}")
    if refused:
        raise TopicsNotCreated(
            f"the cluster ({brokers} broker(s)) refused to create topics with {replicas} "
            f"replicas: {'; '.join(refused)} (DEALWATCH_REPLICATION_FACTOR sets the replicas)"
        )


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics, replicated for the cluster; return warnings about existing
    ones that differ (partitions, too few replicas). Asks the broker about these topics only:
    listing every topic of a shared cluster cost each ingest 150-230 ms on a broker with
    thousands of them."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        specs, found, brokers, wanted = await _replication_state(admin, settings)
        missing = [s for s in specs if not found[s.name]]
        if missing:
            response = await admin.create_topics([replicated(s, wanted) for s in missing])
            refused_creation(response, wanted, brokers)
        present = [s for s in specs if found[s.name]]
        return [
            f"topic {spec.name} has {len(found[spec.name])} partitions, configured "
            f"{spec.partitions}; left as is (changing it would move companies between partitions)"
            for spec in present
            if len(found[spec.name]) != spec.partitions
        ] + replication_warnings(present, found, wanted, brokers)
    finally:
        await admin.close()


async def replication_check(settings: Settings) -> list[str]:
    """Warnings about this prefix's existing topics that have too few replicas for the
    cluster (`dealwatch kafka status`); creates nothing."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        specs, found, brokers, wanted = await _replication_state(admin, settings)
        present = [s for s in specs if found[s.name]]
        return replication_warnings(present, found, wanted, brokers)
    finally:
        await admin.close()


async def _replication_state(
    admin: AIOKafkaAdminClient, settings: Settings
) -> tuple[list[TopicSpec], dict[str, dict[int, int]], int, int]:
    """The project's topics, each one's replicas per partition (empty: missing), the
    cluster's brokers and the replicas wanted."""
    specs = topic_specs(settings)
    found = await topics_replicas(admin, [s.name for s in specs])
    brokers = len(admin._client.cluster.brokers())
    return specs, found, brokers, replication_factor(settings, brokers)
