"""Group commit for the worker: batches that arrive while a transaction is in flight wait,
and go to SQL together in the next one.

The agent hands over a decoded batch and returns to Faust at once, so Faust keeps reading
while SQL works (instead of pausing its take buffer until the write in flight commits), and a
backlog gets transactions as large as what arrived during the previous one (fewer, larger
commits: cheaper per event). A trickle of live news is written as soon as it arrives: with
nothing in flight, a batch starts its transaction at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger("dealwatch.worker")

B = TypeVar("B")


class GroupCommit(Generic[B]):
    """At most one `write` in flight; batches submitted meanwhile are written together next,
    in submission order. Each batch's messages stay unacknowledged (Faust's reference count:
    `incref` now, `ack` after the write) until its transaction commits, so the consumer group
    never commits an offset SQL does not hold. `submit` waits while `max_waiting` events
    wait already (memory stays bounded; Faust's buffers then hold the rest). A failed write
    calls `on_failure` (the worker stops: a restart reads its batches again), writes nothing
    after it, and is raised again by the next `submit` or `drain`."""

    def __init__(
        self,
        write: Callable[[Sequence[B]], Awaitable[None]],
        on_failure: Callable[[BaseException], Awaitable[None]] | None = None,
        *,
        max_waiting: int,
    ) -> None:
        self._write = write
        self._on_failure = on_failure
        self._max_waiting = max_waiting
        self._waiting: list[tuple[Sequence[Any], B]] = []
        self._waiting_events = 0
        self._writer: asyncio.Task | None = None
        self._taken: asyncio.Event | None = None
        self._error: BaseException | None = None

    async def submit(self, events: Sequence[Any], batch: B) -> None:
        """Queue `batch` (whose messages are `events`) for the next transaction."""
        self._raise_failure()
        for event in events:
            event.message.incref()  # the stream's own ack, after we return, is not the last
        while self._waiting and self._waiting_events >= self._max_waiting:
            if self._taken is None:
                self._taken = asyncio.Event()
            await self._taken.wait()  # the writer takes what waits when its write is done
            self._raise_failure()
        self._waiting.append((events, batch))
        self._waiting_events += len(events)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_waiting())

    async def drain(self) -> None:
        """Wait until every submitted batch is written (or a write failed: raised here)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        self._raise_failure()

    async def _write_waiting(self) -> None:
        while self._waiting and self._error is None:
            taken, self._waiting, self._waiting_events = self._waiting, [], 0
            if self._taken is not None:
                self._taken.set()
                self._taken = None
            try:
                await self._write([batch for _, batch in taken])
            except Exception as error:
                self._error = error
                if self._taken is not None:  # submitters waiting for room: raise it to them
                    self._taken.set()
                if self._on_failure is not None:
                    log.exception("a batch could not be written to SQL; stopping to read it again")
                    await self._on_failure(error)
                return
            for events, _ in taken:
                for event in events:
                    event.ack()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error
