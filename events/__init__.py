"""The pure event core: feed records, validation, ids and canonical serialization.

Nothing here imports Kafka, SQL or Slack.
"""

from dealwatch.events.envelope import SCHEMA_VERSION, DealEvent, event_id_for
from dealwatch.events.records import (
    KINDS,
    Acquisition,
    Correction,
    FeedRecord,
    Financials,
    Funding,
    Layoff,
    Licensing,
    Probe,
    Talent,
    parse_record,
)
from dealwatch.events.registry import Company

__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "Acquisition",
    "Company",
    "Correction",
    "DealEvent",
    "FeedRecord",
    "Financials",
    "Funding",
    "Layoff",
    "Licensing",
    "Probe",
    "Talent",
    "event_id_for",
    "parse_record",
]
