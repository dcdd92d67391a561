"""Records beyond the seed: a late report, a correction, a retraction, a duplicate."""

from __future__ import annotations

from dealwatch.events.envelope import DealEvent
from dealwatch.events.records import parse_record

EXTRA_RECORDS = [
    # reported nine months after it happened: changes the 2024-03 rows of the series
    {
        "id": "late-fund-mistral-2024",
        "kind": "funding",
        "date": "2024-03-01",
        "reported": "2024-12-01",
        "company": "mistral-ai",
        "amount_usd": 15000000,
        "investors": ["microsoft"],
        "source": "late report",
    },
    {
        "id": "fund-tiny-2024",
        "kind": "funding",
        "date": "2024-05-02",
        "company": "tinyco",
        "amount_usd": 2000000000,
        "investors": ["amazon"],
        "source": "a mistake",
    },
    {
        "id": "fix-tiny-amount",
        "kind": "correction",
        "corrects": "fund-tiny-2024",
        "reported": "2024-05-10",
        "fields": {"amount_usd": 20000000},
    },
    {
        "id": "acq-ghost-2024",
        "kind": "acquisition",
        "date": "2024-06-01",
        "company": "ghostco",
        "acquirer": "nvidia",
        "price_usd": 300000000,
    },
    {
        "id": "retract-ghost",
        "kind": "correction",
        "corrects": "acq-ghost-2024",
        "reported": "2024-06-05",
        "retract": True,
    },
]


def extra_events() -> list[DealEvent]:
    return [DealEvent.of(parse_record(r)) for r in EXTRA_RECORDS]
