"""Connection settings shared by every Kafka client (aiokafka and Faust)."""

from __future__ import annotations

from typing import Any

from services.config import Settings


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


async def topic_partitions(consumer, topic: str) -> list[int]:
    """The partitions of `topic`, from fresh cluster metadata (empty if it does not exist)."""
    metadata = await consumer._client.fetch_all_metadata()
    return sorted(metadata.partitions_for_topic(topic) or [])
