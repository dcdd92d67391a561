"""`dealwatch slack`: the Bolt app over Socket Mode (no public URL: the app opens a WebSocket to
Slack), with the review channel kept in step with the queue. It waits for the database as the
worker does; slack-sdk's Socket Mode client reconnects when Slack drops the socket, and an
envelope Slack delivers again after a drop finds its decision already taken (one claim per item),
so nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import logging
import signal

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from dealwatch.alerts.slack import retry_handlers
from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_async_engine
from dealwatch.services.logs import one_line
from dealwatch.services.slack.desk import Desk
from dealwatch.services.slack.sync import post_new_items, redraw_changed, update_decided

log = logging.getLogger("dealwatch.slack")


def _said_in_one_line(record: logging.LogRecord) -> bool:
    """slack-sdk's Socket Mode client (which logs through this logger) prints a traceback for
    every failed connection attempt: one line an attempt is enough, as the worker says it. And
    Bolt's warning that SLACK_BOT_TOKEN is unused when a client is given is noise: the client
    carries it."""
    message = record.getMessage()
    if message.startswith("Failed to connect"):
        record.exc_info, record.exc_text = None, None
    return "`token` will be unused" not in message


log.addFilter(_said_in_one_line)
DEFAULT_API = "https://slack.com/api/"


class SlackSettingsError(Exception):
    """A token is missing or of the wrong kind; the message says which and where to get it."""


def tokens(settings: Settings) -> tuple[str, str]:
    bot = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    app = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if not app.startswith("xapp-"):
        raise SlackSettingsError(
            "SLACK_APP_TOKEN must be an app-level token (xapp-...) with connections:write: "
            "Basic Information > App-Level Tokens (docs/slack.md)"
        )
    if not bot.startswith("xoxb-"):
        raise SlackSettingsError(
            "SLACK_BOT_TOKEN must be the bot token (xoxb-...): OAuth & Permissions, after "
            "installing the app to the workspace (docs/slack.md)"
        )
    return bot, app


def build(settings: Settings, engine) -> tuple[AsyncApp, AsyncWebClient]:
    bot, _ = tokens(settings)
    client = AsyncWebClient(
        token=bot, base_url=settings.slack_api_url or DEFAULT_API, retry_handlers=retry_handlers()
    )
    app = AsyncApp(client=client, name="dealwatch", logger=log)
    Desk(settings, engine).register(app)
    return app, client


async def keep_channel_in_step(settings: Settings, engine, client: AsyncWebClient) -> None:
    """Post new items and update decided ones, every DEALWATCH_SLACK_SYNC_INTERVAL seconds;
    a database or Slack away for a while (or anything else going wrong) is said in one line a
    round, and waited out."""
    failing = False
    while True:
        try:
            await post_new_items(engine, client, settings.dealwatch_review_channel)
            await update_decided(engine, client)
            await redraw_changed(engine, client)
            if failing:
                log.info("the review channel is in step again")
            failing = False
        except Exception as error:  # the loop is the boundary: it must not die unseen
            log.warning("review channel not updated, trying again: %s", _said(error))
            failing = True
        await asyncio.sleep(settings.dealwatch_slack_sync_interval)


def _said(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return f"Slack answered {error.response.get('error')}"
    return one_line(error)


async def serve(settings: Settings) -> None:
    """Connect, keep the review channel in step, and stop cleanly on SIGINT or SIGTERM, also
    while Slack cannot be reached (slack-sdk keeps trying to connect until closed)."""
    engine = make_async_engine(settings.database_url)
    app, client = build(settings, engine)
    handler = AsyncSocketModeHandler(app, tokens(settings)[1], web_client=client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    connecting = asyncio.create_task(handler.connect_async())
    stopping = asyncio.create_task(stop.wait())
    syncing: asyncio.Task | None = None
    try:
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done():
            connecting.result()
            log.info("connected to Slack (Socket Mode); review channel %s",
                     settings.dealwatch_review_channel)  # fmt: skip
            syncing = asyncio.create_task(keep_channel_in_step(settings, engine, client))
            await stopping
    finally:
        for task in (connecting, stopping, syncing):
            if task is not None:
                task.cancel()
        await handler.close_async()
        await engine.dispose()
        log.info("stopped")
