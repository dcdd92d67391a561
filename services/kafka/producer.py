"""The idempotent aiokafka producer all writers to the log share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer

from dealwatch.services.config import Settings
from dealwatch.services.kafka.clients import client_kwargs


@asynccontextmanager
async def log_producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """An idempotent producer (`acks=all`), batching for throughput; flushed on exit."""
    producer = AIOKafkaProducer(
        **client_kwargs(settings),
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_batch_size=256 * 1024,
        compression_type="gzip",
        request_timeout_ms=30_000,
    )
    await producer.start()
    try:
        yield producer
        await producer.flush()
    finally:
        await producer.stop()
