"""The hash chain over one partition of the log: each link binds a message's offset and bytes
to everything before it, so a message altered, inserted, deleted or reordered changes every
head after it. Pure: the worker, the audit report and the export all fold with `link`."""

from __future__ import annotations

import hashlib

#: The head of a partition before its first message.
GENESIS = "0" * 64


def link(head: str, offset: int, value: bytes | None) -> str:
    """The head after the message at `offset` with `value` (a tombstone counts as no bytes)."""
    digest = hashlib.sha256(value or b"").digest()
    return hashlib.sha256(bytes.fromhex(head) + offset.to_bytes(8, "big") + digest).hexdigest()
