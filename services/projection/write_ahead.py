"""One batch written to SQL while the next is read: `dealwatch replay`'s reading and decoding
(Python, the event loop's thread) overlap the database's work (SQLite's thread, or the
PostgreSQL server), instead of taking turns with it. (The worker goes further: batches that
arrive during a write are grouped into the next, services/worker/group_commit.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class WriteAhead:
    """At most one write in flight, in submission order. A failed write is raised again by
    the next `submit` or `drain`: the error simply ends the replay."""

    def __init__(self) -> None:
        self._pending: asyncio.Future | None = None

    async def submit(self, write: Callable[[], Awaitable[None]]) -> None:
        """Start `write` once the previous batch's write has finished."""
        await self.drain()
        self._pending = asyncio.ensure_future(write())

    async def drain(self) -> None:
        """Wait for the write in flight, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending
