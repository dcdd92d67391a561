"""What a worker does before Faust starts: schema, topics, group offsets from SQL."""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError

from services.config import Settings
from services.db.engine import make_async_engine
from services.db.schema import upgrade
from services.offsets import align_group_offsets
from services.topics import ensure_topics


def prepare_worker(settings: Settings) -> list[str]:
    """Migrate the schema, create missing topics, and start the group from SQL's positions
    when no other worker of the group runs. Returns what a person should read."""
    upgrade(settings.database_url)
    notes = [f"warning: {w}" for w in asyncio.run(ensure_topics(settings))]

    async def align() -> dict[str, int]:
        engine = make_async_engine(settings.database_url)
        try:
            return await align_group_offsets(settings, engine)
        finally:
            await engine.dispose()

    try:
        moved = asyncio.run(align())
    except KafkaError as error:  # other workers of the group run: they are consistent with SQL
        return [*notes, f"group offsets left as they are ({error.__class__.__name__})"]
    return notes + [
        f"{where}: resuming at offset {offset} (the position stored in SQL)"
        for where, offset in sorted(moved.items())
    ]
