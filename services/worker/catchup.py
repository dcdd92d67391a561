"""Has the worker caught up? The log's end offsets against what SQL says it has consumed."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.services.config import Settings
from dealwatch.services.db.engine import session_factory
from dealwatch.services.db.models import ProjectionState, StreamPosition
from dealwatch.services.kafka.clients import client_kwargs, topics_partitions
from dealwatch.services.kafka.topics import COMPANIES, DEAL_EVENTS


class LogEnds:
    """A long-lived client asking the broker where the consumed topics end. The partitions
    are looked up at most once a minute, with metadata of the two topics only; once both
    exist, the client's own refreshes (and leader lookups) ask for them alone, rather than
    for every topic of the cluster (kafka_clients.topics_partitions)."""

    PARTITIONS_TTL = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._looked_up = 0.0

    async def offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to be written in every partition of the consumed topics."""
        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(
                **client_kwargs(self.settings), enable_auto_commit=False
            )
            await self.consumer.start()
        s = self.settings
        if time.monotonic() - self._looked_up > self.PARTITIONS_TTL or not self._partitions:
            topics = [s.topic(DEAL_EVENTS), s.topic(COMPANIES)]
            found = await topics_partitions(self.consumer, topics)
            self._partitions = [TopicPartition(t, p) for t in topics for p in found[t]]
            if all(found.values()):  # tracking a missing topic would create it
                await self.consumer._client.set_topics(topics)
            self._looked_up = time.monotonic()
        ends = await self.consumer.end_offsets(self._partitions)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None


async def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """The next offset to be written in every partition of the consumed topics."""
    ends = LogEnds(settings)
    try:
        return await ends.offsets()
    finally:
        await ends.close()


async def lag(engine: AsyncEngine, ends: dict[tuple[str, int], int]) -> int:
    """Messages in the log that SQL has not consumed yet."""
    async with session_factory(engine)() as session:
        rows = (await session.execute(select(StreamPosition))).scalars().all()
    done = {(r.topic, r.partition): r.next_offset for r in rows}
    return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())


async def projected(engine: AsyncEngine, evaluation_day: dt.date) -> bool:
    """The projection tables and alerts reflect everything mirrored, as of `evaluation_day`."""
    from dealwatch.services.projection.projector import pending_work
    from dealwatch.services.projection.upkeep import FORMAT

    async with session_factory(engine)() as session:
        state = await session.get(ProjectionState, 1)
        waiting = await pending_work(session)
    return bool(
        state
        and state.state_format == FORMAT
        and state.evaluation_day == evaluation_day
        and not waiting
    )


async def wait_until_caught_up(
    engine: AsyncEngine, settings: Settings, timeout: float = 120.0, poll: float = 0.5
) -> float:
    """Wait until SQL has consumed the log as it is now and projected it; return the seconds.

    The ends are asked again once SQL reaches them, and the wait goes on if they moved: a
    partition whose leader just changed on a cluster can answer a high-water mark that is
    briefly behind what producers were told is written."""
    started = time.monotonic()
    ends = await end_offsets(settings)
    while True:
        if await lag(engine, ends) == 0 and await projected(engine, settings.today()):
            again = await end_offsets(settings)
            if all(again.get(tp, 0) <= end for tp, end in ends.items()) and set(again) <= set(ends):
                return time.monotonic() - started
            ends = again
            continue
        if time.monotonic() - started > timeout:
            raise TimeoutError(
                f"the worker did not catch up within {timeout:.0f}s "
                f"({await lag(engine, ends)} messages behind)"
            )
        await asyncio.sleep(poll)
