"""Process tuning for the batch work: the C heap's free pages go back to the system."""

from __future__ import annotations

import sys

import pytest

from dealwatch.services.runtime import FreeMemoryReleaser


def test_trims_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    release = FreeMemoryReleaser(every=60.0)
    monkeypatch.setattr(release, "_trim", lambda pad: calls.append(pad) or 1)
    release()
    release()
    assert calls == [0]  # the second call came within the interval
    release._last -= 61.0
    release()
    assert calls == [0, 0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_finds_glibc_malloc_trim() -> None:
    """On Linux (glibc) the releaser really trims: without it the worker's RSS creeps
    (services/runtime.py)."""
    release = FreeMemoryReleaser()
    assert release._trim is not None
    assert release._trim(0) in (0, 1)
