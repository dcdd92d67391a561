"""SQL is the record of what was consumed: align the consumer group with it before starting.

The worker writes the next offset of every partition in the same transaction as the rows.
When the database is new (a first run, a switch from SQLite to PostgreSQL, a rebuild) or was
restored from a backup, the group's committed offsets in Kafka no longer match it; moving them
to SQL's positions makes the worker re-read exactly what the database lacks.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.services.config import Settings
from dealwatch.services.db.engine import session_factory
from dealwatch.services.db.models import StreamPosition
from dealwatch.services.kafka.clients import client_kwargs
from dealwatch.services.logs import one_line, quiet
from dealwatch.services.worker.catchup import end_offsets

log = logging.getLogger("dealwatch.offsets")


def group_id(settings: Settings) -> str:
    """The worker's consumer group (Faust's app id)."""
    return settings.group_id()


class GroupAheadOfSQL(Exception):
    """The group's offsets are past what SQL holds and a member blocks moving them back."""


async def align_group_offsets(
    settings: Settings, engine: AsyncEngine, wait: float = 0.0
) -> dict[str, int]:
    """Commit SQL's positions as the group's offsets; returns what moved, by `topic[partition]`.

    Only possible while no worker of the group runs (Kafka refuses commits from outside a
    live group). Then, when SQL holds at least what the group committed, reading on from the
    group's offsets re-reads only what SQL already has (mirrored idempotently): the refusal is
    raised as Kafka's error. When SQL holds less (a new or restored database), the group must
    be moved back: a static member of a worker that just stopped stays in the group until its
    session times out, so this retries for up to `wait` seconds, then raises `GroupAheadOfSQL`.
    """
    async with session_factory(engine)() as session:
        rows = (await session.execute(select(StreamPosition))).scalars().all()
    stored = {(r.topic, r.partition): r.next_offset for r in rows}
    partitions = await end_offsets(settings)
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings), group_id=group_id(settings), enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t, p in partitions]
        consumer.assign(tps)
        committed = {tp: await consumer.committed(tp) for tp in tps}
        wanted = {tp: stored.get((tp.topic, tp.partition), 0) for tp in tps}
        moves = {tp: offset for tp, offset in wanted.items() if committed[tp] != offset}
        behind = sorted(
            f"{tp.topic}[{tp.partition}] SQL {o} < group {committed[tp]}"
            for tp, o in moves.items()
            if committed[tp] is not None and o < committed[tp]
        )
        deadline = time.monotonic() + wait
        said = False
        while moves:
            try:
                with quiet("aiokafka.consumer.group_coordinator"):  # our one line, not theirs
                    await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in moves.items()})
                break
            except KafkaError as error:
                if not behind:
                    raise
                if time.monotonic() > deadline:
                    raise GroupAheadOfSQL(
                        f"the database holds less than consumer group {group_id(settings)} "
                        f"has read ({'; '.join(behind)}), and the group has members "
                        f"({error.__class__.__name__}) that keep it from being moved back: "
                        "stop every worker of the group and start again"
                    ) from error
                if not said:
                    log.warning(
                        "waiting (up to %.0f s) for a lingering member to leave group %s, to "
                        "move it back to SQL's positions: %s",
                        wait,
                        group_id(settings),
                        one_line(error),
                    )
                    said = True
                await asyncio.sleep(1.0)
        return {f"{tp.topic}[{tp.partition}]": o for tp, o in moves.items()}
    finally:
        await consumer.stop()
