"""The review channel follows the queue: each new pending item is posted once, and the post of
an item decided anywhere (a button, a modal, `dealwatch review` at a terminal) is updated in
place with who decided, when and the record id."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.services.db.engine import session_factory
from dealwatch.services.slack.review_blocks import decided_post, review_post
from dealwatch.services.sources.models import CHANGED, ReviewItem

log = logging.getLogger("dealwatch.slack")
DECIDED = ("accepted", "rejected", "joined")
BATCH = 20  # posts per round: Slack's rate limit for chat.postMessage is about one a second


async def post_new_items(engine: AsyncEngine, client: AsyncWebClient, channel: str) -> int:
    async with session_factory(engine)() as session:
        items = (
            (
                await session.execute(
                    select(ReviewItem)
                    .where(ReviewItem.state == "pending", ReviewItem.slack_ts.is_(None))
                    .order_by(ReviewItem.queued_at, ReviewItem.key)
                    .limit(BATCH)
                )
            )
            .scalars()
            .all()
        )
    for item in items:
        text, blocks = review_post(item)
        posted = await client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        async with session_factory(engine)() as session, session.begin():
            await session.execute(
                update(ReviewItem)
                .where(ReviewItem.key == item.key, ReviewItem.slack_ts.is_(None))
                .values(
                    slack_channel=posted["channel"], slack_ts=posted["ts"], slack_shown="pending"
                )
            )
    return len(items)


async def redraw_changed(engine: AsyncEngine, client: AsyncWebClient) -> int:
    """Redraw the posts of pending items whose draft changed (a sighting joined them)."""
    async with session_factory(engine)() as session:
        items = (
            (
                await session.execute(
                    select(ReviewItem)
                    .where(ReviewItem.state == "pending", ReviewItem.slack_shown == CHANGED)
                    .limit(BATCH)
                )
            )
            .scalars()
            .all()
        )
    for item in items:
        text, blocks = review_post(item)
        await client.chat_update(channel=item.slack_channel, ts=item.slack_ts, text=text,
                                 blocks=blocks)  # fmt: skip
        async with session_factory(engine)() as session, session.begin():
            await session.execute(
                update(ReviewItem)
                .where(ReviewItem.key == item.key, ReviewItem.slack_shown == CHANGED)
                .values(slack_shown="pending")
            )
    return len(items)


async def update_decided(
    engine: AsyncEngine, client: AsyncWebClient, key: str | None = None
) -> int:
    """Update the posts of decided items (all of them, or `key`'s) that still show a pending
    item."""
    query = select(ReviewItem).where(
        ReviewItem.slack_ts.is_not(None),
        ReviewItem.state.in_(DECIDED),
        or_(ReviewItem.slack_shown.is_(None), ReviewItem.slack_shown != ReviewItem.state),
    )
    if key is not None:
        query = query.where(ReviewItem.key == key)
    async with session_factory(engine)() as session:
        items = (await session.execute(query.limit(BATCH))).scalars().all()
    for item in items:
        text, blocks = decided_post(item)
        await client.chat_update(
            channel=item.slack_channel, ts=item.slack_ts, text=text, blocks=blocks
        )
        async with session_factory(engine)() as session, session.begin():
            await session.execute(
                update(ReviewItem).where(ReviewItem.key == item.key).values(slack_shown=item.state)
            )
    return len(items)
