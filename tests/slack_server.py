"""A local Slack-compatible server for tests: Web API methods, a webhook, scripted failures, and
Socket Mode: `apps.connections.open` hands out a ws://127.0.0.1 URL, and the socket delivers
interactive payloads, slash commands and events to the real slack-bolt/slack-sdk client, waits
for their acknowledgements, and delivers again what was not acknowledged when a socket drops
(as Slack does)."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

TOKEN = "xoxb-test-0000-secret"
APP_TOKEN = "xapp-1-test-0000-secret"


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
            "C0REVIEW": "dealwatch-review",
        }
    )
    messages: list[Posted] = field(default_factory=list)
    webhook_messages: list[dict] = field(default_factory=list)
    requests: list[tuple[str, float]] = field(default_factory=list)
    failures: deque = field(default_factory=deque)
    url: str = ""
    reply_delay: float = 0.0  # seconds between storing a message and answering
    updates: list[dict] = field(default_factory=list)  # chat.update calls
    responses: list[dict] = field(default_factory=list)  # posts to response_url
    views: list[dict] = field(default_factory=list)  # views.open
    published: list[dict] = field(default_factory=list)  # views.publish
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id -> bytes
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    connections_opened: int = 0
    socket: Any = None  # the current Socket Mode connection
    unacked: dict[str, dict] = field(default_factory=dict)  # envelope id -> envelope
    acks: dict[str, asyncio.Future] = field(default_factory=dict)
    connected: asyncio.Event | None = None
    _ids: Any = field(default_factory=itertools.count)

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

    def _message(self, channel: str | None, ts: str) -> Posted | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.requests.append((method, time.monotonic()))
        if method == "apps.connections.open":
            if request.headers.get("Authorization") != f"Bearer {APP_TOKEN}":
                return web.json_response({"ok": False, "error": "invalid_auth"})
            self.connections_opened += 1
            ws_url = self.url.replace("http://", "ws://")
            return web.json_response({"ok": True, "url": f"{ws_url}/link/?ticket={uuid.uuid4()}"})
        if not self._authorized(request):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        params = await self._params(request)
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "team": "test", "team_id": "T0TEST", "user": "dealwatch",
                 "user_id": "U0BOT", "bot_id": "B0BOT", "url": f"{self.url}/"}
            )  # fmt: skip
        answer = await self._desk_method(method, params)
        if answer is not None:
            return web.json_response(answer)
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
            if channel is None and params.get("channel", "").startswith("U"):
                channel = params["channel"]  # a direct message to a user
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

    async def _desk_method(self, method: str, params: dict[str, Any]) -> dict | None:
        """The Web API methods the Slack desk calls (None: not one of them)."""

        def loaded(value: Any) -> Any:
            return json.loads(value) if isinstance(value, str) else value

        if method == "chat.update":
            message = self._message(params.get("channel"), params.get("ts", ""))
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.text = params.get("text", "")
            message.blocks = loaded(params.get("blocks")) or []
            self.updates.append({"channel": message.channel, "ts": message.ts,
                                 "text": message.text, "blocks": message.blocks})  # fmt: skip
            return {"ok": True, "channel": message.channel, "ts": message.ts}
        if method == "views.open":
            view = loaded(params.get("view"))
            self.views.append({"trigger_id": params.get("trigger_id"), "view": view})
            return {"ok": True, "view": {**view, "id": f"V{next(self._ids)}"}}
        if method == "views.publish":
            self.published.append(
                {"user_id": params.get("user_id"), "view": loaded(params["view"])}
            )
            return {"ok": True, "view": {"id": f"V{next(self._ids)}"}}
        if method == "usergroups.users.list":
            group = params.get("usergroup", "")
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.usergroups[group]}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ids):08d}"
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = loaded(params.get("files")) or []
            missing = [f["id"] for f in files if f["id"] not in self.uploads]
            if missing:
                return {"ok": False, "error": "file_not_found"}
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return None

    async def upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK - uploaded")

    async def respond(self, request: web.Request) -> web.Response:
        """A `response_url`: what an app answered to one action (ephemeral replies)."""
        self.responses.append({"url": request.path, **(await request.json())})
        return web.Response(text="ok")

    # --- Socket Mode ---------------------------------------------------------------------------

    async def link(self, request: web.Request) -> web.WebSocketResponse:
        """One Socket Mode connection: hello, then what was delivered and not acknowledged."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.socket = ws
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A0DESK"}})  # fmt: skip
        for envelope in list(self.unacked.values()):
            envelope["retry_attempt"] += 1
            envelope["retry_reason"] = "timeout"
            await ws.send_json(envelope)
        if self.connected is None:
            self.connected = asyncio.Event()
        self.connected.set()
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            ack = json.loads(message.data)
            envelope_id = ack.get("envelope_id")
            self.unacked.pop(envelope_id, None)
            future = self.acks.get(envelope_id)
            if future is not None and not future.done():
                future.set_result(ack.get("payload") or {})
        if self.socket is ws:
            self.socket = None
            if self.connected is not None:
                self.connected.clear()
        return ws

    async def deliver(self, kind: str, payload: dict, drop: bool = False) -> dict:
        """Send one envelope (`interactive`, `slash_commands`, `events_api`) and return the
        acknowledgement's payload. `drop`: close the socket right after sending, before the
        app can acknowledge; the envelope is delivered again on the next connection."""
        if self.connected is None:
            self.connected = asyncio.Event()
        if self.socket is None:
            self.connected.clear()
        await asyncio.wait_for(self.connected.wait(), 30)
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind != "events_api",
                    "retry_attempt": 0, "retry_reason": ""}  # fmt: skip
        future = asyncio.get_running_loop().create_future()
        self.acks[envelope_id] = future
        self.unacked[envelope_id] = envelope
        await self.socket.send_json(envelope)
        if drop:
            socket, self.socket = self.socket, None
            self.connected.clear()
            await socket.close()
        return await asyncio.wait_for(future, 60)

    def response_url(self) -> str:
        return f"{self.url}/respond/{next(self._ids)}"

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
        app.router.add_get("/link/", self.slack.link)
        app.router.add_post("/upload/{file_id}", self.slack.upload)
        app.router.add_post("/respond/{n}", self.slack.respond)
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

    def deliver(self, kind: str, payload: dict, drop: bool = False) -> dict:
        """`FakeSlack.deliver` from the test's thread."""
        coroutine = self.slack.deliver(kind, payload, drop)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(90)

    def stop(self) -> None:
        if self.slack.socket is not None:
            socket = self.slack.socket
            asyncio.run_coroutine_threadsafe(socket.close(), self.loop).result(10)
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
