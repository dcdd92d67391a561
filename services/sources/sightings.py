"""The deals a new sighting could join (sources/sightings.py decides): effective records of
the same company and kind from `record_state`, and pending review items.

`record_state` is what the worker has projected, so a sighting meets the records the worker
has read; `dealwatch sources run` beside a running worker sees them within a batch. Sightings
of one poll also meet each other (the poller keeps them)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.services.db.engine import session_factory
from dealwatch.services.db.log_mirror import dialect_insert
from dealwatch.services.db.state_models import RecordState
from dealwatch.services.sources.models import CHANGED, ReviewItem, review_row
from dealwatch.sources.outcomes import Review
from dealwatch.sources.sightings import DEALS, WINDOW_DAYS, JoinPending, Known


def is_deal(record: dict[str, Any]) -> bool:
    return record.get("kind") in DEALS and bool(record.get("company"))


async def deals_seen(engine: AsyncEngine, record: dict[str, Any]) -> list[Known]:
    """Logged records and pending items of `record`'s company and kind near its date."""
    if not is_deal(record):
        return []
    try:
        day = dt.date.fromisoformat(str(record.get("date")))
    except ValueError:
        return []
    window = dt.timedelta(days=WINDOW_DAYS)
    async with session_factory(engine)() as session:
        logged = await session.execute(
            select(RecordState.record).where(
                RecordState.company == record["company"],
                RecordState.kind == record["kind"],
                RecordState.date.between(day - window, day + window),
                RecordState.retracted.is_(False),
                RecordState.record.is_not(None),
            )
        )
        pending = await session.execute(
            select(ReviewItem.key, ReviewItem.draft).where(
                ReviewItem.state == "pending", ReviewItem.kind == record["kind"]
            )
        )
        known = [Known(json.loads(text)) for (text,) in logged]
        for key, draft in pending:
            fields = json.loads(draft)
            if fields.get("company") == record["company"]:
                known.append(Known({**fields, "kind": record["kind"]}, key))
    return known


async def join_pending(engine: AsyncEngine, join: JoinPending, sighting: Review, source: str):
    """Merge a sighting into its pending item (the merged draft, the link among its links) and
    keep the sighting as a `joined` item, so a re-poll does not queue it again. False when the
    item was decided meanwhile (the caller queues the sighting on its own)."""
    async with session_factory(engine)() as session, session.begin():
        item = await session.get(ReviewItem, join.key)
        if item is None or item.state != "pending":
            return False
        context = json.loads(item.context)
        links = context.setdefault("links", [item.origin])
        if join.link and join.link not in links:
            links.append(join.link)
        item.draft = json.dumps(join.draft, sort_keys=True)
        item.context = json.dumps(context, sort_keys=True)
        if "joined by" not in item.reason:
            item.reason = f"{item.reason}; joined by other sightings"
        if item.slack_ts:
            item.slack_shown = CHANGED  # `dealwatch slack` shows the merged draft
        row = review_row(sighting, source, state="joined")
        row |= {"decision": join.key, "decided_by": "dealwatch", "decided_at": row["queued_at"]}
        await session.execute(
            dialect_insert(session, ReviewItem)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        return True
