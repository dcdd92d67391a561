"""Log lines people read: an error in one line, and a library's own noise held back while a
refusal is the expected answer (a probe, a retry that says its own line)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet(name: str) -> Iterator[None]:
    """The logger `name` says only what is critical while the block runs, then as before."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or error.__class__.__name__
    return text if len(text) <= 200 else text[:197] + "..."
