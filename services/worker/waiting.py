"""Waiting for a broker or a database that is not there yet (compose start order, a restart):
retry with exponential backoff, one line per attempt, and a clear error at the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

from dealwatch.services.logs import one_line, quiet

T = TypeVar("T")

#: What "not there yet" looks like; anything else is a real error and is raised at once.
BROKER_ABSENT: tuple[type[BaseException], ...] = (
    KafkaConnectionError,
    KafkaTimeoutError,
    ConnectionError,
    TimeoutError,
)
DATABASE_ABSENT: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)


class Unavailable(Exception):
    """A service did not answer within the configured time; the message says which and why."""


class _Backoff:
    """The attempts' schedule: exponential pauses, one line said per refusal, and
    `Unavailable` once `timeout` seconds have passed (DEALWATCH_CONNECT_TIMEOUT)."""

    def __init__(self, what: str, timeout: float, say, first_delay: float, max_delay: float):
        self.what, self.timeout, self.say = what, timeout, say
        self.deadline = time.monotonic() + timeout
        self.delay, self.max_delay, self.tries = first_delay, max_delay, 0

    def refused(self, error: BaseException) -> float:
        """The pause before the next attempt, said; raises `Unavailable` past the deadline."""
        self.tries += 1
        left = self.deadline - time.monotonic()
        reason = one_line(error)
        if left <= 0:
            raise Unavailable(
                f"{self.what} did not answer after {self.tries} attempts in {self.timeout:.0f}s "
                f"(DEALWATCH_CONNECT_TIMEOUT): {reason}"
            ) from error
        pause = min(self.delay, self.max_delay, left)
        self.say(f"waiting for {self.what}: {reason}; retrying in {pause:.0f}s")
        self.delay *= 2
        return pause


def wait_until_ready(
    what: str,
    attempt: Callable[[], T],
    absent: tuple[type[BaseException], ...],
    timeout: float,
    say: Callable[[str], None],
    first_delay: float = 1.0,
    max_delay: float = 30.0,
) -> T:
    """`attempt()` until it succeeds; errors of the `absent` kinds are retried until `timeout`
    seconds have passed (DEALWATCH_CONNECT_TIMEOUT), then raised as `Unavailable`."""
    backoff = _Backoff(what, timeout, say, first_delay, max_delay)
    while True:
        try:
            with quiet("aiokafka"):  # its own log line per refused connection is noise here
                return attempt()
        except absent as error:
            time.sleep(backoff.refused(error))


async def keep_trying(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    absent: tuple[type[BaseException], ...],
    timeout: float,
    say: Callable[[str], None],
    first_delay: float = 1.0,
    max_delay: float = 10.0,
) -> T:
    """`wait_until_ready` for a running service: a worker's write or a scheduled job whose
    database went away (a restart, a failover) waits for it, one line per attempt, instead of
    failing; each attempt must be safe to repeat (one transaction, rolled back when refused)."""
    backoff = _Backoff(what, timeout, say, first_delay, max_delay)
    while True:
        try:
            return await attempt()
        except absent as error:
            await asyncio.sleep(backoff.refused(error))
