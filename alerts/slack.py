"""Delivery through slack-sdk: a bot token (chat.postMessage), an incoming webhook, or the console.

Retries live in slack-sdk's retry handlers: 429 waits for `Retry-After`, 500/503 and connection
errors back off. Tokens and webhook URLs never reach logs, errors or the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from dealwatch.alerts.blocks import render
from dealwatch.services.config import Settings

METADATA_EVENT = "dealwatch_alert"
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class DeliveryError(Exception):
    """Slack did not take the message; `retryable` says whether trying later can help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Outgoing:
    """One alert to send."""

    alert_key: str
    channel: str
    message: str
    fired_at: dt.datetime


class Sender(Protocol):
    name: str

    async def send(self, alert: Outgoing) -> str:
        """Deliver; return a receipt (the message ts). Raises DeliveryError."""

    async def already_sent(self, alert: Outgoing) -> bool | None:
        """Whether Slack already has this alert (None: cannot tell)."""


def retry_handlers(max_retries: int = 4, backoff: float = 0.5) -> list:
    """slack-sdk's own retry handlers: rate limits, server errors, connection errors."""
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff)
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
        AsyncServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        AsyncConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
    ]


class _Redactor:
    def __init__(self, *secrets: str | None) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text


def _api_error(error: SlackApiError, redact: _Redactor) -> DeliveryError:
    status = getattr(error.response, "status_code", None)
    code = error.response.get("error") if error.response is not None else None
    return DeliveryError(
        redact(f"Slack answered {status}: {code or error}"),
        retryable=status in RETRYABLE_STATUS or code == "ratelimited",
    )


class BotSender:
    """`chat.postMessage` with a bot token; the alert key rides along as message metadata."""

    name = "slack bot"

    def __init__(
        self, token: str, base_url: str | None = None, max_retries: int = 4, backoff: float = 0.5
    ) -> None:
        kwargs = {"base_url": base_url} if base_url else {}
        self.client = AsyncWebClient(
            token=token, retry_handlers=retry_handlers(max_retries, backoff), timeout=15, **kwargs
        )
        self.redact = _Redactor(token)
        self._channel_ids: dict[str, str] = {}

    async def send(self, alert: Outgoing) -> str:
        text, blocks = render(alert.message, alert.alert_key)
        try:
            response = await self.client.chat_postMessage(
                channel=alert.channel,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                metadata={
                    "event_type": METADATA_EVENT,
                    "event_payload": {"alert_key": alert.alert_key},
                },
            )
        except SlackApiError as error:
            raise _api_error(error, self.redact) from None
        except Exception as error:  # aiohttp/connection errors left after the retries
            raise DeliveryError(self.redact(f"{type(error).__name__}: {error}"), True) from None
        self._channel_ids[alert.channel] = response.get("channel", alert.channel)
        return str(response.get("ts"))

    async def _channel_id(self, channel: str) -> str | None:
        if channel in self._channel_ids:
            return self._channel_ids[channel]
        if not channel.startswith("#"):
            return channel
        async for page in await self.client.conversations_list(
            limit=200, types="public_channel,private_channel"
        ):
            for c in page.get("channels", []):
                self._channel_ids["#" + c["name"]] = c["id"]
        return self._channel_ids.get(channel)

    async def already_sent(self, alert: Outgoing) -> bool | None:
        """Look for the alert key in the channel's recent messages' metadata."""
        try:
            channel = await self._channel_id(alert.channel)
            if channel is None:
                return None
            oldest = str(alert.fired_at.timestamp() - 60)
            history = await self.client.conversations_history(
                channel=channel, oldest=oldest, include_all_metadata=True, limit=200
            )
        except Exception:
            return None
        for message in history.get("messages", []):
            metadata = message.get("metadata") or {}
            if metadata.get("event_payload", {}).get("alert_key") == alert.alert_key:
                return True
        return False


class WebhookSender:
    """An incoming webhook: one fixed channel, no history to reconcile (at-least-once)."""

    name = "slack webhook"

    def __init__(self, url: str, max_retries: int = 4, backoff: float = 0.5) -> None:
        self.client = AsyncWebhookClient(
            url=url, retry_handlers=retry_handlers(max_retries, backoff), timeout=15
        )
        self.redact = _Redactor(url)

    async def send(self, alert: Outgoing) -> str:
        text, blocks = render(alert.message)
        try:
            response = await self.client.send(text=text, blocks=blocks)
        except Exception as error:
            raise DeliveryError(self.redact(f"{type(error).__name__}: {error}"), True) from None
        if response.status_code != 200:
            raise DeliveryError(
                self.redact(f"webhook answered {response.status_code}: {response.body}"),
                response.status_code in RETRYABLE_STATUS,
            )
        return f"webhook:{response.status_code}"

    async def already_sent(self, alert: Outgoing) -> bool | None:
        return None


class ConsoleSender:
    """No Slack configured: print the alert; it stays in the table."""

    name = "console"

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)

    async def send(self, alert: Outgoing) -> str:
        text, _ = render(alert.message)
        self.console.print(f"[bold]alert[/] {alert.channel}: {text}")
        return "console"

    async def already_sent(self, alert: Outgoing) -> bool | None:
        return None


def make_sender(settings: Settings) -> Sender:
    """Bot token first, then webhook, else the console."""
    if settings.slack_bot_token:
        return BotSender(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    if settings.slack_webhook_url:
        return WebhookSender(settings.slack_webhook_url.get_secret_value())
    return ConsoleSender()
