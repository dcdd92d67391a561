"""Topic lookups against the real broker: only the named topics, and none created."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from dealwatch.services.config import Settings
from dealwatch.services.kafka.clients import client_kwargs, topics_partitions
from dealwatch.services.kafka.producer import log_producer
from dealwatch.services.kafka.topics import COMPANIES, DEAL_EVENTS, ensure_topics, topic_specs
from dealwatch.services.worker.catchup import LogEnds


async def _topics(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_partitions_of_named_topics_without_creating_missing_ones(kafka: Settings) -> None:
    """The broker creates topics a metadata request names unless told not to; a lookup of
    a topic that does not exist yet must not create it with the broker's defaults."""
    missing = kafka.topic("not-created")

    async def run() -> tuple[dict[str, list[int]], set[str]]:
        await ensure_topics(kafka)
        consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False)
        await consumer.start()
        try:
            for _ in range(50):  # a new topic reaches the broker's metadata shortly after
                found = await topics_partitions(consumer, [kafka.topic(DEAL_EVENTS), missing])
                if found[kafka.topic(DEAL_EVENTS)]:
                    break
                await asyncio.sleep(0.1)
        finally:
            await consumer.stop()
        return found, await _topics(kafka)

    found, existing = asyncio.run(run())
    assert found == {
        kafka.topic(DEAL_EVENTS): list(range(kafka.dealwatch_partitions)),
        missing: [],
    }
    assert missing not in existing


def test_log_ends_before_and_after_the_topics_exist(kafka: Settings) -> None:
    async def run() -> tuple[dict, dict, set[str]]:
        ends = LogEnds(kafka)
        try:
            before = await ends.offsets()
            created = await _topics(kafka)
            await ensure_topics(kafka)
            async with log_producer(kafka) as producer:
                await producer.send_and_wait(kafka.topic(DEAL_EVENTS), b"{}", partition=0)
                await producer.send_and_wait(kafka.topic(DEAL_EVENTS), b"{}", partition=0)
            ends._looked_up = 0.0  # as a minute later
            after = await ends.offsets()
        finally:
            await ends.close()
        return before, after, created

    before, after, created = asyncio.run(run())
    assert before == {}
    assert kafka.topic(DEAL_EVENTS) not in created and kafka.topic(COMPANIES) not in created
    assert after[(kafka.topic(DEAL_EVENTS), 0)] == 2
    assert after[(kafka.topic(COMPANIES), 0)] == 0
    assert len(after) == kafka.dealwatch_partitions + 1


def test_a_tests_topics_are_deleted_by_prefix_and_no_others(kafka: Settings) -> None:
    """What the `kafka` fixture does after each test: the broker keeps a file per partition."""
    from tests.conftest import delete_topics_with_prefix

    neighbour = kafka.model_copy(update={"dealwatch_topic_prefix": kafka.topic("neighbour.")})

    async def run() -> tuple[list[str], set[str]]:
        await ensure_topics(kafka)
        await ensure_topics(neighbour)
        expected = {spec.name for spec in topic_specs(neighbour)}
        for _ in range(100):  # a new topic reaches the broker's metadata shortly after
            if expected <= await _topics(kafka):
                break
            await asyncio.sleep(0.1)
        doomed = await delete_topics_with_prefix(kafka, neighbour.dealwatch_topic_prefix)
        for _ in range(100):  # deletion reaches the metadata shortly after
            left = await _topics(kafka)
            if not left & set(doomed):
                break
            await asyncio.sleep(0.1)
        return doomed, left

    doomed, left = asyncio.run(run())
    assert doomed == sorted(spec.name for spec in topic_specs(neighbour))
    assert not left & set(doomed)
    assert {kafka.topic(DEAL_EVENTS), kafka.topic(COMPANIES)} <= left


def test_ensure_topics_creates_the_missing_and_warns_of_a_partition_count_it_leaves(
    kafka: Settings,
) -> None:
    """The deal-events topic created elsewhere with 2 partitions is left as is, with a warning
    naming both counts; the other topics are created; a second call changes nothing."""
    from aiokafka.admin import NewTopic

    async def run() -> tuple[list[str], list[str], dict[str, list[int]]]:
        admin = AIOKafkaAdminClient(**client_kwargs(kafka))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(kafka.topic(DEAL_EVENTS), 2, 1)])
            for _ in range(50):  # as another process's topic, already in the metadata
                if (await topics_partitions(admin, [kafka.topic(DEAL_EVENTS)]))[
                    kafka.topic(DEAL_EVENTS)
                ]:
                    break
                await asyncio.sleep(0.1)
        finally:
            await admin.close()
        first = await ensure_topics(kafka)
        second = await ensure_topics(kafka)
        consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False)
        await consumer.start()
        try:
            names = [spec.name for spec in topic_specs(kafka)]
            for _ in range(50):
                found = await topics_partitions(consumer, names)
                if all(found.values()):
                    break
                await asyncio.sleep(0.1)
        finally:
            await consumer.stop()
        return first, second, found

    first, second, found = asyncio.run(run())
    expected = (
        f"topic {kafka.topic(DEAL_EVENTS)} has 2 partitions, configured "
        f"{kafka.dealwatch_partitions}; left as is"
    )
    assert len(first) == 1 and first[0].startswith(expected)
    assert second == first
    assert found == {spec.name: list(range(len(found[spec.name]))) for spec in topic_specs(kafka)}
    assert found[kafka.topic(DEAL_EVENTS)] == [0, 1]
    assert all(found[spec.name] == [0] for spec in topic_specs(kafka)[1:])
