"""The worker's Faust consumer (services/worker/faust_consumer.py) and monitor (faust_monitor.py):
each fetched batch reaches the streams whole and in order, and a suspended flow (a rebalance)
still abandons a delivery blocked on a full stream buffer. The consumer is the one the
worker's app builds; only its fetch (`getmany`, a call into the consumer's thread) is replaced
by a list of batches. The end-to-end behaviour on the real broker (rebalances included) is
tests/test_worker.py's."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace

from faust.types import TP, Message
from mode.utils.locks import Event

from dealwatch.services.config import Settings
from dealwatch.services.worker.app import create_app
from dealwatch.services.worker.faust_consumer import BatchDrainConsumer
from dealwatch.services.worker.faust_monitor import LeanMonitor

TOPIC = "deal-events"


def _message(partition: int, offset: int) -> tuple[TP, Message]:
    tp = TP(TOPIC, partition)
    return tp, Message(TOPIC, partition, offset, 0.0, 0, {}, b"k", b"v", None, tp=tp)


def _consumer(sqlite_url: str, batches: list[list]) -> BatchDrainConsumer:
    consumer = create_app(Settings().model_copy(update={"database_url": sqlite_url})).consumer
    assert isinstance(consumer, BatchDrainConsumer)
    fetches = iter(batches)

    async def getmany(timeout: float):
        for pair in next(fetches, []):
            yield pair

    consumer.getmany = getmany
    return consumer


@contextlib.asynccontextmanager
async def _draining(consumer: BatchDrainConsumer):
    """The consumer's drain loop running as Faust's fetcher runs it; stopped on the way out."""
    fetcher = SimpleNamespace(_stopped=Event())
    task = asyncio.ensure_future(consumer._drain_messages(fetcher))
    try:
        yield
    finally:
        fetcher._stopped.set()
        await asyncio.wait_for(task, 10)


async def _drain_until(consumer: BatchDrainConsumer, done: asyncio.Event) -> None:
    async with _draining(consumer):
        await asyncio.wait_for(done.wait(), 10)


async def test_every_message_of_every_batch_is_delivered_in_order(sqlite_url: str) -> None:
    batches = [
        [_message(0, 0), _message(1, 0), _message(0, 1)],
        [_message(1, 1), _message(1, 2)],
        [_message(0, 2)],
    ]
    consumer = _consumer(sqlite_url, batches)
    seen: list[tuple[int, int]] = []
    done = asyncio.Event()

    async def callback(message: Message) -> None:
        seen.append((message.partition, message.offset))
        if len(seen) == 6:
            done.set()

    consumer.callback = callback
    await _drain_until(consumer, done)
    assert seen == [(0, 0), (1, 0), (0, 1), (1, 1), (1, 2), (0, 2)]
    assert consumer._read_offset[TP(TOPIC, 0)] == 2
    assert consumer._read_offset[TP(TOPIC, 1)] == 2


async def test_a_message_already_read_is_not_delivered_again(sqlite_url: str) -> None:
    consumer = _consumer(sqlite_url, [[_message(0, 3), _message(0, 4), _message(0, 5)]])
    consumer._read_offset[TP(TOPIC, 0)] = 4
    seen: list[int] = []
    done = asyncio.Event()

    async def callback(message: Message) -> None:
        seen.append(message.offset)
        done.set()

    consumer.callback = callback
    await _drain_until(consumer, done)
    assert seen == [4, 5]


async def test_a_suspended_flow_abandons_a_blocked_delivery(sqlite_url: str) -> None:
    batches = [[_message(0, 0), _message(0, 1), _message(0, 2)], [_message(0, 7)]]
    consumer = _consumer(sqlite_url, batches)
    seen: list[int] = []
    blocked, done = asyncio.Event(), asyncio.Event()
    never = asyncio.Event()

    async def callback(message: Message) -> None:
        if message.offset == 1:
            blocked.set()
            await never.wait()  # a full stream buffer that nobody empties
        seen.append(message.offset)
        if message.offset == 7:
            done.set()

    consumer.callback = callback
    async with _draining(consumer):
        await asyncio.wait_for(blocked.wait(), 10)
        consumer.suspend_flow.set()
        await asyncio.sleep(0.05)
        consumer.suspend_flow.clear()
        await asyncio.wait_for(done.wait(), 10)
    assert seen == [0, 7]  # 1 abandoned, 2 dropped with its batch; the next batch flows


def test_the_worker_monitor_keeps_what_faust_reads(sqlite_url: str) -> None:
    """The lean monitor skips Faust's per-event statistics but still stamps each partition's
    last stream event, which Faust's consumer reads for its "stream is idle" warnings."""
    app = create_app(Settings().model_copy(update={"database_url": sqlite_url}))
    assert isinstance(app.monitor, LeanMonitor)
    tp, message = _message(3, 9)
    app.monitor.on_message_in(tp, 9, message)
    assert app.monitor.on_stream_event_in(tp, 9, None, None) is None
    assert app.monitor.stream_inbound_time[tp] > 0
    assert app.monitor.messages_received_total == 0
