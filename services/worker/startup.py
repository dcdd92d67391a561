"""What a worker does before Faust starts: schema, topics, group offsets from SQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka.errors import KafkaError

from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_async_engine, redact
from dealwatch.services.db.schema import upgrade
from dealwatch.services.kafka.topics import ensure_topics
from dealwatch.services.worker.offsets import GroupAheadOfSQL, align_group_offsets
from dealwatch.services.worker.waiting import (
    BROKER_ABSENT,
    DATABASE_ABSENT,
    Unavailable,
    wait_until_ready,
)


def wait_for_database(settings: Settings, say: Callable[[str], None]) -> None:
    """Migrate the schema, waiting for the database to answer (raises `Unavailable`)."""
    wait_until_ready(
        f"the database at {redact(settings.database_url)}",
        lambda: upgrade(settings.database_url),
        DATABASE_ABSENT,
        settings.dealwatch_connect_timeout,
        say,
    )


def prepare_worker(settings: Settings, say: Callable[[str], None]) -> list[str]:
    """Migrate the schema, create missing topics, and start the group from SQL's positions
    when no other worker of the group runs, waiting for an absent database or broker.
    Returns what a person should read; raises `Unavailable` past DEALWATCH_CONNECT_TIMEOUT."""
    wait_for_database(settings, say)
    warnings = wait_until_ready(
        f"Kafka at {settings.kafka_bootstrap_servers}",
        lambda: asyncio.run(ensure_topics(settings)),
        BROKER_ABSENT,
        settings.dealwatch_connect_timeout,
        say,
    )
    notes = [f"warning: {w}" for w in warnings]

    async def align() -> dict[str, int]:
        engine = make_async_engine(settings.database_url)
        try:
            # a static member of a worker just stopped lingers for a session (docs/cluster.md)
            return await align_group_offsets(
                settings, engine, settings.dealwatch_session_timeout + 5
            )
        finally:
            await engine.dispose()

    try:
        moved = asyncio.run(align())
    except GroupAheadOfSQL as error:
        raise Unavailable(str(error)) from error
    except KafkaError as error:  # other workers of the group run: they are consistent with SQL
        return [*notes, f"group offsets left as they are ({error.__class__.__name__})"]
    return notes + [
        f"{where}: resuming at offset {offset} (the position stored in SQL)"
        for where, offset in sorted(moved.items())
    ]
