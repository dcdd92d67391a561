"""Effective records as stored text: canonical JSON in, validated records out."""

from __future__ import annotations

from events.records import _ADAPTER, FeedRecord
from events.serialization import canonical_json


def encode(record: FeedRecord) -> str:
    return canonical_json(record.model_dump(mode="json")).decode()


def decode(text: str) -> FeedRecord:
    return _ADAPTER.validate_json(text)
