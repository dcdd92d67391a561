"""The worker's group commit: batches that arrive while a transaction is in flight are
written together next, in order; offsets become committable only after their transaction;
a failed write stops everything after it with its messages still unacknowledged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from faust.types.tuples import Message

from dealwatch.services.worker.group_commit import GroupCommit


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


class Writes:
    """A write that records what each transaction held, and can be held open or made to fail."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.transactions: list[list[int]] = []
        self.fail = False

    async def __call__(self, batches: list[list[Delivered]]) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("database went away")
        self.transactions.append([e.message.offset for b in batches for e in b])


def test_batches_that_arrive_during_a_write_go_together_in_the_next() -> None:
    async def scenario() -> None:
        write = Writes()
        commit = GroupCommit(write, max_waiting=100)
        first, second, third = batch(0), batch(3), batch(6)
        for events in (first, second, third):
            await commit.submit(events, events)  # returns at once: nothing waits for room
            stream_acks(events)
            await asyncio.sleep(0.01)
        assert not any(e.message.acked for e in first + second + third)  # nothing committed
        write.gate.set()
        await commit.drain()
        assert write.transactions == [[0, 1, 2], [3, 4, 5, 6, 7, 8]]
        assert all(e.message.acked for e in first + second + third)

    asyncio.run(scenario())


def test_a_full_waiting_room_holds_the_agent_until_the_writer_takes_it() -> None:
    async def scenario() -> None:
        write = Writes()
        commit = GroupCommit(write, max_waiting=3)
        await commit.submit(first := batch(0), first)
        await asyncio.sleep(0.01)  # in flight
        await commit.submit(second := batch(3), second)  # waits: the room was empty
        submitting = asyncio.ensure_future(commit.submit(third := batch(6), third))
        await asyncio.sleep(0.01)
        assert not submitting.done()  # three events wait already
        write.gate.set()
        await submitting
        await commit.drain()
        assert write.transactions == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]

    asyncio.run(scenario())


def test_a_failed_write_stops_and_writes_nothing_after_it() -> None:
    async def scenario() -> None:
        failures: list[BaseException] = []

        async def on_failure(error: BaseException) -> None:
            failures.append(error)

        write = Writes()
        write.fail = True
        commit = GroupCommit(write, on_failure, max_waiting=3)
        await commit.submit(first := batch(0), first)
        await asyncio.sleep(0.01)
        await commit.submit(second := batch(3), second)
        blocked = asyncio.ensure_future(commit.submit(third := batch(6), third))
        for events in (first, second):
            stream_acks(events)
        write.gate.set()
        with pytest.raises(ConnectionError):
            await blocked  # the agent waiting for room learns of the failure too
        with pytest.raises(ConnectionError):
            await commit.drain()
        with pytest.raises(ConnectionError):
            await commit.submit(batch(9), [])
        assert [str(f) for f in failures] == ["database went away"]
        assert write.transactions == []
        assert not any(e.message.acked for e in first + second + third)

    asyncio.run(scenario())


def test_batches_merged_for_one_transaction_keep_log_order_and_furthest_positions() -> None:
    from dealwatch.services.db.log_mirror import Consumed
    from dealwatch.services.db.log_mirror import Message as Mirrored
    from dealwatch.services.worker.app import DecodedBatch, merged

    def decoded(partition: int, offsets: range, live: bool) -> DecodedBatch:
        messages = [Mirrored("deal-events", partition, o, b"v") for o in offsets]
        rows = [{"offset": o} for o in offsets]
        consumed = [Consumed("deal-events", partition, offsets[-1] + 1)]
        return DecodedBatch(rows, [], messages, consumed, live)

    one = merged([decoded(0, range(0, 3), False)])
    assert one.consumed == [Consumed("deal-events", 0, 3)]
    both = merged(
        [
            decoded(1, range(5, 7), False),
            decoded(0, range(0, 3), False),
            decoded(1, range(7, 9), True),
        ]
    )
    assert [r["offset"] for r in both.rows] == [5, 6, 0, 1, 2, 7, 8]
    assert [(m.partition, m.offset) for m in both.messages][:2] == [(1, 5), (1, 6)]
    assert both.consumed == [Consumed("deal-events", 0, 3), Consumed("deal-events", 1, 9)]
    assert both.live  # the latest batch was read at the log's end
