"""The review queue: a person turns a candidate into a feed record (maybe after an edit), or
drops it with a reason. Accepted records go through `dealwatch ingest`'s checks and producer,
with the reviewer and the day in their `source`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.events.errors import RecordError
from dealwatch.events.feed import Accepted
from dealwatch.events.records import parse_record
from dealwatch.events.serialization import canonical_json
from dealwatch.services.config import Settings
from dealwatch.services.db.engine import session_factory
from dealwatch.services.ingest.pipeline import ingest_items
from dealwatch.services.sources.models import ReviewItem
from dealwatch.services.sources.sightings import deals_seen
from dealwatch.sources.sightings import join_correction, match


class ReviewError(Exception):
    """The decision cannot be taken; the message says why and what to give."""


class AlreadyDecided(ReviewError):
    """Someone else decided first (or is deciding): the message says who, and what."""

    def __init__(self, item: ReviewItem) -> None:
        when = f" at {item.decided_at:%Y-%m-%d %H:%M} UTC" if item.decided_at else ""
        what = "is being decided" if item.state == DECIDING else f"was already {item.state}"
        outcome = f" ({item.decision})" if item.decision else ""
        super().__init__(f"{item.key} {what} by {item.decided_by}{when}{outcome}")
        self.item = item


DECIDING = "deciding"
#: A claim older than this (a decider that died between claim and record) may be taken again.
STALE_CLAIM = dt.timedelta(minutes=5)


async def list_items(engine: AsyncEngine, state: str | None = "pending") -> list[ReviewItem]:
    async with session_factory(engine)() as session:
        query = select(ReviewItem).order_by(ReviewItem.queued_at, ReviewItem.key)
        if state:
            query = query.where(ReviewItem.state == state)
        return list((await session.execute(query)).scalars())


async def get_item(engine: AsyncEngine, key: str) -> ReviewItem:
    async with session_factory(engine)() as session:
        item = await session.get(ReviewItem, key)
    if item is None:
        raise ReviewError(f"no review item {key!r} (see `dealwatch review list`)")
    return item


def record_of(item: ReviewItem, edits: dict[str, Any], reviewer: str, day: dt.date) -> dict:
    """The draft with the reviewer's edits, a stable id, and the review in its `source`."""
    record = {**json.loads(item.draft), **edits}
    record.setdefault("kind", item.kind)
    record.setdefault("id", f"review-{hashlib.sha256(item.key.encode()).hexdigest()[:16]}")
    cited = record.get("source") or item.origin  # a joined item cites every sighting
    record["source"] = f"{cited} (reviewed by {reviewer} on {day.isoformat()})"
    return record


async def accept(
    settings: Settings, engine: AsyncEngine, key: str, edits: dict[str, Any], reviewer: str
) -> str:
    """Emit the item's record; returns its id. Invalid edits are refused with the reason. An
    item whose deal reached the log meanwhile (a Form D, a trusted post) joins that record: the
    id returned is the correction's that adds what the item tells, or the record's when it
    tells nothing new."""
    item = await get_item(engine, key)
    if not decidable(item):
        raise AlreadyDecided(item)
    record = record_of(item, edits, reviewer, settings.today())
    try:
        parsed = parse_record(record)
    except RecordError as error:
        raise ReviewError(
            f"the record is not valid yet: {error}; give it with --set FIELD=VALUE "
            f"(draft: {canonical_json(record).decode()})"
        ) from error
    logged = [k for k in await deals_seen(engine, record) if k.in_log]
    if (found := match(record, logged)) is not None:
        correction = join_correction(found.record, record)
        if correction is None:
            await claim(engine, key, reviewer)
            await _decide(engine, key, "accepted", reviewer, found.record["id"])
            return found.record["id"]
        record, parsed = correction, parse_record(correction)
    await claim(engine, key, reviewer)
    try:
        report = await ingest_items(
            [(item.origin, Accepted(1, parsed, canonical_json(record).decode()))], settings
        )
    except BaseException:
        await _release(engine, key)
        raise
    if report.rejected:
        await _release(engine, key)
        raise ReviewError(report.rejected[0][1].reason)
    await _decide(engine, key, "accepted", reviewer, parsed.id)
    return parsed.id


async def reject(engine: AsyncEngine, key: str, why: str, reviewer: str) -> None:
    if not why.strip():
        raise ReviewError("a rejection needs a reason (--why)")
    item = await get_item(engine, key)
    if not decidable(item):
        raise AlreadyDecided(item)
    await claim(engine, key, reviewer)
    await _decide(engine, key, "rejected", reviewer, why)


def _stale(decided_at: dt.datetime | None, now: dt.datetime) -> bool:
    if decided_at is None:
        return True
    if decided_at.tzinfo is None:  # SQLite hands back naive UTC
        decided_at = decided_at.replace(tzinfo=dt.UTC)
    return decided_at < now - STALE_CLAIM


def decidable(item: ReviewItem) -> bool:
    """Pending, or claimed by a decider that never finished (see `claim`)."""
    now = dt.datetime.now(dt.UTC)
    return item.state == "pending" or (item.state == DECIDING and _stale(item.decided_at, now))


async def claim(engine: AsyncEngine, key: str, reviewer: str) -> None:
    """Take the item for one decision. The first claimant wins, whether in Slack or at the CLI
    (one conditional UPDATE); anyone after is told who was first."""
    now = dt.datetime.now(dt.UTC)
    takeable = (ReviewItem.state == "pending") | (
        (ReviewItem.state == DECIDING) & (ReviewItem.decided_at < now - STALE_CLAIM)
    )
    async with session_factory(engine)() as session, session.begin():
        taken = await session.execute(
            update(ReviewItem)
            .where(ReviewItem.key == key, takeable)
            .values(state=DECIDING, decided_by=reviewer, decided_at=now, decision=None)
        )
    if taken.rowcount != 1:
        raise AlreadyDecided(await get_item(engine, key))


async def _release(engine: AsyncEngine, key: str) -> None:
    """The claimed decision failed (the log refused the record): the item waits again."""
    async with session_factory(engine)() as session, session.begin():
        await session.execute(
            update(ReviewItem)
            .where(ReviewItem.key == key, ReviewItem.state == DECIDING)
            .values(state="pending", decided_by=None, decided_at=None)
        )


async def _decide(engine: AsyncEngine, key: str, state: str, reviewer: str, decision: str):
    async with session_factory(engine)() as session, session.begin():
        item = await session.get(ReviewItem, key)
        item.state, item.decided_by, item.decision = state, reviewer, decision
        item.decided_at = dt.datetime.now(dt.UTC)


def parse_edits(pairs: list[str]) -> dict[str, Any]:
    """`FIELD=VALUE` pairs; a value that reads as JSON (a number, a list, true) is that value."""
    edits: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ReviewError(f"--set takes FIELD=VALUE, got {pair!r}")
        try:
            edits[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            edits[name.strip()] = value
    return edits
