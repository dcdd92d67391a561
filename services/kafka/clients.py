"""Connection settings shared by every Kafka client (aiokafka and Faust)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiokafka.errors as Errors
from aiokafka.protocol.metadata import MetadataRequest

from dealwatch.services.config import Settings


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments: bootstrap servers plus optional SASL/TLS."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            kwargs["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if "SSL" in settings.kafka_security_protocol:
        from aiokafka.helpers import create_ssl_context

        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        kwargs["ssl_context"] = create_ssl_context(cafile=cafile)
    return kwargs


async def topics_replicas(consumer, topics: Sequence[str]) -> dict[str, dict[int, int]]:
    """Each partition's number of replicas, for each of `topics` (empty if it does not
    exist), from fresh metadata of those topics only, never creating a missing one.
    `consumer`: a started aiokafka consumer or admin client (both hold the connection pool
    this asks through).

    aiokafka's `fetch_all_metadata` decodes every topic of the cluster: 150 ms of the event
    loop on a broker with 6,000 topics, 0.5 s while the machine was busy (the slow alert
    after a backlog in docs/benchmarks.md). Kafka's metadata request v4+ can name topics
    without creating them (brokers older than 1.0 would create them)."""
    client = consumer._client
    request = MetadataRequest(list(topics), allow_auto_topic_creation=False)
    response = await client.send(client.get_random_node(), request)
    found: dict[str, dict[int, int]] = {topic: {} for topic in topics}
    for topic_data in response.topics:
        if response.API_VERSION == 0:
            code, topic, partitions = topic_data
        else:
            code, topic, _internal, partitions = topic_data
        error = Errors.for_code(code)
        if error is Errors.UnknownTopicOrPartitionError:
            continue
        if error is not Errors.NoError and error is not Errors.LeaderNotAvailableError:
            raise error(f"metadata of topic {topic}")  # e.g. not authorized: say so
        found[topic] = {partition[1]: len(partition[3]) for partition in partitions}
    return found


async def topics_partitions(consumer, topics: Sequence[str]) -> dict[str, list[int]]:
    """The partitions of each of `topics` (empty if it does not exist): `topics_replicas`."""
    return {
        topic: sorted(found) for topic, found in (await topics_replicas(consumer, topics)).items()
    }


async def topic_partitions(consumer, topic: str) -> list[int]:
    """The partitions of `topic` (empty if it does not exist), from fresh metadata."""
    return (await topics_partitions(consumer, [topic]))[topic]
