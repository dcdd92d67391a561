"""What a parser makes of one source item: a record for the feed, an item for a person to
review, or nothing (with why). Records are plain feed dicts (docs/metrics.md §1); the adapter
validates them with the same schema and producer as `dealwatch ingest`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Emit:
    """A feed record, and the item it came from (its address, or its id in a file)."""

    record: dict[str, Any]
    origin: str


@dataclass(frozen=True)
class Review:
    """A machine cannot be sure: a person accepts (maybe after an edit) or rejects it.
    `key` is stable per item, so a re-poll never queues it twice."""

    key: str
    kind: str  # the record kind it would become: funding, probe, licensing, acquisition, ...
    reason: str
    draft: dict[str, Any]
    origin: str
    context: dict[str, Any] = field(default_factory=dict)  # title, names, links for the reviewer


@dataclass(frozen=True)
class Skip:
    """Nothing to emit, for a stated reason (a filing that sold nothing, an unrelated item)."""

    reason: str
    origin: str


@dataclass(frozen=True)
class Malformed:
    """The source's bytes do not hold what its format promises; the reason says where."""

    reason: str
    origin: str


Outcome = Emit | Review | Skip | Malformed
