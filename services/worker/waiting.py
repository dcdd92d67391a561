"""Waiting for a broker or a database that is not there yet (compose start order, a restart):
retry with exponential backoff, one line per attempt, and a clear error at the deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

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
    deadline = time.monotonic() + timeout
    delay = first_delay
    tries = 0
    while True:
        tries += 1
        try:
            with _quiet("aiokafka"):  # its own log line per refused connection is noise here
                return attempt()
        except absent as error:
            left = deadline - time.monotonic()
            reason = _one_line(error)
            if left <= 0:
                raise Unavailable(
                    f"{what} did not answer after {tries} attempts in {timeout:.0f}s "
                    f"(DEALWATCH_CONNECT_TIMEOUT): {reason}"
                ) from error
            pause = min(delay, max_delay, left)
            say(f"waiting for {what}: {reason}; retrying in {pause:.0f}s")
            time.sleep(pause)
            delay *= 2


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or error.__class__.__name__
    return text if len(text) <= 200 else text[:197] + "..."
