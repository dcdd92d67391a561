"""Capital attribution and absorptions of single records (spec §3)."""

from __future__ import annotations

from collections.abc import Mapping

from dealwatch.events.records import Acquisition, FeedRecord, Funding, Licensing
from dealwatch.projections.numbers import split_evenly, to_micros

UNDISCLOSED = "undisclosed"
INCUMBENT = "incumbent"

Roles = Mapping[str, str]
"""Registry roles by slug; a slug not in the registry is not an incumbent."""


def attributions(record: FeedRecord) -> list[tuple[str, int]]:
    """The (provider, micro-dollars) pairs a record attributes capital to."""
    if isinstance(record, Funding):
        amount = to_micros(record.amount_usd)
        if not record.investors:
            return [(UNDISCLOSED, amount)]
        shares = split_evenly(amount, len(record.investors))
        return list(zip(record.investors, shares, strict=True))
    if isinstance(record, Licensing):
        return [(record.licensee, to_micros(record.fee_usd or 0))]
    if isinstance(record, Acquisition):
        return [(record.acquirer, to_micros(record.price_usd or 0))]
    return []


def is_reverse_acquihire(record: FeedRecord) -> bool:
    """A licensing deal that moved at least half the staff or the founders."""
    return isinstance(record, Licensing) and (
        (record.staff_moved_pct or 0) >= 50 or record.founders_joined
    )


def absorbed_by_incumbent(record: FeedRecord, roles: Roles) -> bool:
    """Acquired by an incumbent, or a reverse acquihire by an incumbent licensee."""
    if isinstance(record, Acquisition):
        return roles.get(record.acquirer) == INCUMBENT
    return is_reverse_acquihire(record) and roles.get(record.licensee) == INCUMBENT  # type: ignore[attr-defined]


def absorbs(record: FeedRecord) -> bool:
    """Acquired by anyone, or a reverse acquihire by a licensee of any role (spec §4)."""
    return isinstance(record, Acquisition) or is_reverse_acquihire(record)
