"""The worker's write-ahead: a batch's offsets become committable only after its SQL write,
and a failed write stops the worker with its messages still unacknowledged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from faust.types.tuples import Message

from services.write_ahead import WriteAhead


@dataclass
class Delivered:
    """What Faust's stream hands the agent: an event whose ack releases its message."""

    message: Message

    def ack(self) -> bool:
        return self.message.ack(consumer=None)


def batch(first: int, count: int = 3) -> list[Delivered]:
    """Messages as the consumer delivers them to one stream (one reference each)."""
    messages = [
        Message("deal-events", 0, o, 0.0, 0, None, b"k", b"v", None)
        for o in range(first, first + count)
    ]
    for m in messages:
        m.incref()
    return [Delivered(m) for m in messages]


def stream_acks(events: list[Delivered]) -> None:
    """What `take_events` does once the agent's loop body returns."""
    for e in events:
        e.ack()


def test_offsets_are_released_only_after_the_write_commits() -> None:
    async def scenario() -> None:
        gate, order = asyncio.Event(), []
        ahead = WriteAhead(on_failure=lambda error: asyncio.sleep(0))
        first, second = batch(0), batch(3)

        async def slow_write() -> None:
            await gate.wait()
            order.append("first written")

        async def write() -> None:
            order.append("second written")

        await ahead.submit(first, slow_write)
        stream_acks(first)
        await asyncio.sleep(0.01)
        assert not any(e.message.acked for e in first)  # written later: not committable yet
        submitting = asyncio.ensure_future(ahead.submit(second, write))
        await asyncio.sleep(0.01)
        assert not submitting.done()  # one write in flight, in order
        gate.set()
        await submitting
        stream_acks(second)
        await ahead.drain()
        assert order == ["first written", "second written"]
        assert all(e.message.acked for e in first + second)

    asyncio.run(scenario())


def test_a_failed_write_stops_the_worker_and_keeps_its_messages() -> None:
    async def scenario() -> None:
        failures: list[BaseException] = []

        async def on_failure(error: BaseException) -> None:
            failures.append(error)

        async def broken_write() -> None:
            raise ConnectionError("database went away")

        ahead = WriteAhead(on_failure)
        events = batch(0)
        await ahead.submit(events, broken_write)
        stream_acks(events)
        with pytest.raises(ConnectionError):
            await ahead.drain()
        assert [str(f) for f in failures] == ["database went away"]
        assert not any(e.message.acked for e in events)  # read again after the restart

    asyncio.run(scenario())
