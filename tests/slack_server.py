"""A local Slack-compatible HTTP server for tests: Web API methods, a webhook, scripted failures."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "xoxb-test-0000-secret"


@dataclass
class Posted:
    channel: str
    text: str
    blocks: list
    metadata: dict | None
    ts: str


@dataclass
class FakeSlack:
    """Answers like Slack; `fail_next` queues (status, headers) answers for chat.postMessage."""

    channels: dict[str, str] = field(
        default_factory=lambda: {
            "C0WATCH": "dealwatch",
            "C0DEALS": "deals",
            "C0REG": "regulatory",
            "C0BURN": "burn",
        }
    )
    messages: list[Posted] = field(default_factory=list)
    webhook_messages: list[dict] = field(default_factory=list)
    requests: list[tuple[str, float]] = field(default_factory=list)
    failures: deque = field(default_factory=deque)
    url: str = ""
    reply_delay: float = 0.0  # seconds between storing a message and answering

    def fail_next(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        self.failures.extend(answers)

    def api_url(self) -> str:
        return f"{self.url}/api/"

    def webhook_url(self) -> str:
        return f"{self.url}/services/T000/B000/XXXX"

    def _channel_id(self, channel: str) -> str | None:
        if channel in self.channels:
            return channel
        name = channel.lstrip("#")
        return next((cid for cid, n in self.channels.items() if n == name), None)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(await request.post())
        return params

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.requests.append((method, time.monotonic()))
        if not self._authorized(request):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        params = await self._params(request)
        if method == "auth.test":
            return web.json_response({"ok": True, "team": "test", "user": "dealwatch"})
        if method == "conversations.list":
            return web.json_response(
                {
                    "ok": True,
                    "channels": [{"id": cid, "name": name} for cid, name in self.channels.items()],
                    "response_metadata": {"next_cursor": ""},
                }
            )
        if method == "conversations.history":
            channel = self._channel_id(params.get("channel", ""))
            oldest = float(params.get("oldest", 0))
            found = [
                {"type": "message", "text": m.text, "ts": m.ts, "metadata": m.metadata}
                for m in self.messages
                if m.channel == channel and float(m.ts) >= oldest
            ]
            return web.json_response({"ok": True, "messages": found[::-1], "has_more": False})
        if method == "chat.postMessage":
            if self.failures:
                status, headers = self.failures.popleft()
                body = {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}
                return web.json_response(body, status=status, headers=headers)
            channel = self._channel_id(params.get("channel", ""))
            if channel is None:
                return web.json_response({"ok": False, "error": "channel_not_found"})
            blocks = params.get("blocks") or []
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            metadata = params.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            ts = f"{time.time():.6f}"
            self.messages.append(Posted(channel, params.get("text", ""), blocks, metadata, ts))
            if self.reply_delay:
                await asyncio.sleep(self.reply_delay)
            return web.json_response({"ok": True, "channel": channel, "ts": ts})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)

    async def webhook(self, request: web.Request) -> web.Response:
        self.requests.append(("webhook", time.monotonic()))
        if self.failures:
            status, headers = self.failures.popleft()
            return web.Response(status=status, headers=headers, text="error")
        self.webhook_messages.append(await request.json())
        return web.Response(text="ok")

    def in_channel(self, channel_name: str) -> list[Posted]:
        cid = self._channel_id(channel_name)
        return [m for m in self.messages if m.channel == cid]

    def alert_keys(self) -> list[str]:
        return [m.metadata["event_payload"]["alert_key"] for m in self.messages if m.metadata]


class SlackServerThread:
    """Runs a FakeSlack on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self) -> None:
        self.slack = FakeSlack()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self.slack.api)
        app.router.add_post("/services/{path:.*}", self.slack.webhook)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]
        self.slack.url = f"http://127.0.0.1:{port}"
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> FakeSlack:
        self.thread.start()
        self.ready.wait(10)
        return self.slack

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
