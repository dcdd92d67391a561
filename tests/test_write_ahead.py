"""Replay's write-ahead: one write in flight, in order; a failed write ends the replay."""

from __future__ import annotations

import asyncio

import pytest

from dealwatch.services.projection.write_ahead import WriteAhead


def test_one_write_in_flight_in_submission_order() -> None:
    async def scenario() -> None:
        gate, order = asyncio.Event(), []
        ahead = WriteAhead()

        async def slow_write() -> None:
            await gate.wait()
            order.append("first written")

        async def write() -> None:
            order.append("second written")

        await ahead.submit(slow_write)  # returns while the write runs: the next batch is read
        submitting = asyncio.ensure_future(ahead.submit(write))
        await asyncio.sleep(0.01)
        assert not submitting.done()  # one write in flight, in order
        assert order == []
        gate.set()
        await submitting
        await ahead.drain()
        assert order == ["first written", "second written"]

    asyncio.run(scenario())


def test_a_failed_write_is_raised_by_the_next_submit() -> None:
    async def scenario() -> None:
        async def broken_write() -> None:
            raise ConnectionError("database went away")

        async def write() -> None:
            raise AssertionError("nothing is written after a failed write")

        ahead = WriteAhead()
        await ahead.submit(broken_write)
        with pytest.raises(ConnectionError):
            await ahead.submit(write)

    asyncio.run(scenario())
