"""Upcasting: stored events of older schema versions are lifted to the current one on read.

Register a function `vN -> vN+1` with `@upcaster(N)` when the schema changes; events in the
log are never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
_UPCASTERS: dict[int, Callable[[Payload], Payload]] = {}


def upcaster(from_version: int) -> Callable[[Callable[[Payload], Payload]], Callable]:
    """Register the step that lifts a payload from `from_version` to `from_version + 1`."""

    def register(step: Callable[[Payload], Payload]) -> Callable[[Payload], Payload]:
        _UPCASTERS[from_version] = step
        return step

    return register


def upcast(payload: Payload, target: int) -> Payload:
    """Apply the registered steps until `payload['schema_version'] == target`."""
    version = payload.get("schema_version", 1)
    if version > target:
        raise ValueError(f"event schema_version {version} is newer than this code ({target})")
    while version < target:
        step = _UPCASTERS.get(version)
        if step is None:
            raise ValueError(f"no upcaster from schema_version {version}")
        payload = {**step(payload), "schema_version": version + 1}
        version += 1
    return payload
