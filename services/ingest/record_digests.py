"""What the log already holds, per record id: the digest of its event, where it came from, and
its company. Ingest reads it to tell a harmless re-send (same bytes: nothing to do) from a
conflicting one (same id, other content: rejected, send a correction instead).

It is the compacted topic `deal-events.digests`, keyed by record id, written only after the
event itself was acknowledged, so it never names an event the log lacks. Chosen over the SQL
mirror because ingest needs only Kafka: it works before any worker has run, against any broker.
Ingest looks ids up in a local copy of it (services/ingest/digest_index.py), not the topic itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from dealwatch.events.serialization import canonical_json


@dataclass(frozen=True)
class RecordDigest:
    """One record id's first accepted content."""

    sha256: str
    source: str  # FILE:LINE of the line that put it in the log
    company: str | None

    def to_bytes(self) -> bytes:
        return canonical_json(asdict(self))


def digest_of(event_bytes: bytes) -> str:
    return hashlib.sha256(event_bytes).hexdigest()
