"""The seed feed as logged events, for tests of the pure core."""

from __future__ import annotations

from dealwatch.events.envelope import DealEvent
from dealwatch.events.feed import Accepted, read_feed, read_registry
from dealwatch.projections.effective import LoggedEvent
from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY


def seed_events() -> list[LoggedEvent]:
    return [
        LoggedEvent(DealEvent.of(item.record), (item.line,))
        for item in read_feed(SEED_FEED)
        if isinstance(item, Accepted)
    ]


def seed_roles() -> dict[str, str]:
    return {
        item.record.slug: item.record.role
        for item in read_registry(SEED_REGISTRY)
        if isinstance(item, Accepted)
    }
