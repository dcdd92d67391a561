"""The whole SQL mirror of the log as events, for what needs all of it at once (the digest,
`replay --verify`'s recomputation with `project()`); the live path never calls it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from events.envelope import DealEvent
from projections.effective import LoggedEvent
from services.db.models import Event


async def load_log(session: AsyncSession) -> list[LoggedEvent]:
    """Every mirrored event with its (partition, offset)."""
    result = await session.stream(select(Event.payload, Event.partition, Event.offset))
    return [
        LoggedEvent(DealEvent.from_bytes(payload), (partition, offset))
        async for payload, partition, offset in result
    ]
