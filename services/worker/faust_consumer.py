"""Faust's Kafka consumer, handing each fetched batch to the streams in one task.

Stock Faust (`faust.transport.consumer.Consumer._drain_messages`) delivers every message
through `Service.wait_first(callback(message), suspend_flow.wait())`: four futures, an
`asyncio.wait` and three cancellations per message, so that a rebalance can abandon a
delivery blocked on a full stream buffer. That was 30-40 µs of the ~80 µs a bare Faust agent
spends on an event here (docs/benchmarks.md). This consumer races the whole batch's delivery
against the same flag once: the same messages in the same order, the same read offsets and
gap tracking, and a rebalance still cancels a blocked delivery (the rest of that batch is
dropped, as stock Faust drops it; the partitions are sought again after the rebalance).

The fetch itself (the batch's first message) is awaited outside the race, as Faust does: it
is a call into the consumer's thread, not to be cancelled half-way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import faust
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

YIELD_EVERY = 100  # messages delivered between two turns given to the event loop (as Faust)


class BatchDrainConsumer(faust_aiokafka.Consumer):
    """The aiokafka-backed Faust consumer, with one flow race per fetched batch."""

    async def _drain_messages(self, fetcher: Any) -> None:
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        diag = self.diag
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                diag.set_flag(faust_consumer.CONSUMER_FETCHING)
                batch = self.getmany(timeout=1.0)
                await self.sleep(0)  # as Faust: getmany may not give the loop a turn
                try:
                    first = None if self.should_stop else await anext(batch, None)
                    if first is not None:
                        await self.wait_first(self._deliver(first, batch), self.suspend_flow.wait())
                finally:
                    await batch.aclose()
                diag.unset_flag(faust_consumer.CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            diag.unset_flag(faust_consumer.CONSUMER_FETCHING)

    async def _deliver(self, first: tuple, rest: AsyncIterator[tuple]) -> None:
        """Hand `first` and the rest of its batch to the conductor, in order, as Faust's
        per-message loop does (read offsets, gaps of acking topics, `commit_every`)."""
        callback = self.callback
        read_offsets = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        since_yield = 0
        tp, message = first
        while True:
            since_yield += 1
            if since_yield > YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            read = read_offsets[tp]
            if read is None or offset >= read:
                if offset - (read or 0) > 1 and read and acks_enabled_for(message.topic):
                    await self._add_gap(tp, read + 1, offset)
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
                await callback(message)
                read_offsets[tp] = offset
            following = await anext(rest, None)
            if following is None:
                return
            tp, message = following


class BatchDrainTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with `BatchDrainConsumer`."""

    Consumer: ClassVar[type] = BatchDrainConsumer


def use_batch_drain(app: faust.App) -> None:
    """Give `app` this consumer (through Faust's public `transport` setter), before its
    topics and agents are declared."""
    app.transport = BatchDrainTransport(app.conf.broker_consumer, app)
