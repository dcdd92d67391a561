"""One batch written to SQL while the next is read: the worker's Kafka reading and decoding
(Python, the event loop's thread) overlap the database's work (SQLite's thread, or the
PostgreSQL server), instead of taking turns with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger("dealwatch.worker")


class WriteAhead:
    """At most one write in flight, in submission order. Each batch's messages stay
    unacknowledged (Faust's reference count: `incref` now, `ack` after the write) until its
    transaction commits, so the consumer group never commits an offset SQL does not hold.
    A failed write calls `on_failure` (the worker stops: a restart reads the batch again)
    and is raised again by the next `submit` or `drain`. `replay` uses it with no events to
    acknowledge and no `on_failure`: the error simply ends the replay."""

    def __init__(
        self, on_failure: Callable[[BaseException], Awaitable[None]] | None = None
    ) -> None:
        self._on_failure = on_failure
        self._pending: asyncio.Future | None = None

    async def submit(self, events: Sequence[Any], write: Callable[[], Awaitable[None]]) -> None:
        """Start `write` once the previous batch's write has finished."""
        for event in events:
            event.message.incref()  # the stream's own ack, after we return, is not the last
        await self.drain()
        self._pending = asyncio.ensure_future(self._write(events, write))

    async def drain(self) -> None:
        """Wait for the write in flight, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def _write(self, events: Sequence[Any], write: Callable[[], Awaitable[None]]) -> None:
        try:
            await write()
        except Exception as error:
            if self._on_failure is not None:
                log.exception("a batch could not be written to SQL; stopping to read it again")
                await self._on_failure(error)
            raise
        for event in events:
            event.ack()
