"""Process-wide tuning for the long-running batch work (the worker, `replay`)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time
from collections.abc import Callable

YOUNG_COLLECTION_EVERY = 50_000  # allocations; CPython's default is 700


def tune_gc_for_batches() -> None:
    """Exempt what start-up built (modules, settings, compiled SQL: never garbage) from every
    collection, and collect the young generation every 50,000 allocations instead of 700.

    Decoding and folding a 2,000-event batch allocates a few hundred thousand short-lived
    objects (pydantic models, rows, JSON), almost none in reference cycles; with the default
    thresholds the collector rescanned them hundreds of times per batch, half of decoding's
    cost in `bench.fold_phases`. Cycles are still collected, and memory stays bounded.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, 20, 100)


class FreeMemoryReleaser:
    """Hand the C heap's free pages back to the system (glibc's `malloc_trim`), at most once
    per `every` seconds; a no-op where the C library has no `malloc_trim`.

    Batches of event payloads (over 512 bytes each, so allocated by `malloc`, not Python's
    own allocator) are freed all the time in the worker and `replay`, between blocks still in
    use: glibc keeps such free pages rather than return them. At a 1M-event backlog a
    worker's RSS crept from 275 MB to 358 MB while the objects it held stayed level, and
    rose to 409 MB after the backlog; trimming once a second kept it at 356 MB, at no
    measurable cost in rate (docs/benchmarks.md).
    """

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self._last = 0.0
        self._trim = _malloc_trim()

    def __call__(self) -> None:
        now = time.monotonic()
        if self._trim is not None and now - self._last >= self.every:
            self._last = now
            self._trim(0)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
