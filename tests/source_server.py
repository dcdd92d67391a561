"""A local HTTP server serving recorded source files (EDGAR indexes and Form D documents, RSS
and Atom feeds, WARN CSV/XLSX), with ETags, scripted failures and a request log."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Scripted:
    """A response to give once before the real file: a status (with headers), or a delay."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class SourceServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.script: dict[str, deque[Scripted]] = defaultdict(deque)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.delay: float = 0.0  # for every request (kill-mid-poll tests)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.requests.append((path, dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script[path]:
            scripted = self.script[path].popleft()
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
            if scripted.status != 200:
                return web.Response(status=scripted.status, headers=scripted.headers)
        body = self.files.get(path)
        if body is None:
            return web.Response(status=404)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag})

    def start(self) -> SourceServer:
        self.thread.start()

        async def boot() -> None:
            app = web.Application()
            app.router.add_route("GET", "/{tail:.*}", self._handle)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]

        asyncio.run_coroutine_threadsafe(boot(), self.loop).result(10)
        return self

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


def serve_fixtures(server: SourceServer) -> SourceServer:
    """The recorded files of tests/fixtures/sources, at the paths the real sources use."""
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures" / "sources"
    for index in fixtures.glob("form.*.idx"):
        day = index.stem.split(".")[1]
        quarter = (int(day[4:6]) - 1) // 3 + 1
        server.files[f"/Archives/edgar/daily-index/form/{day[:4]}/QTR{quarter}/{index.name}"] = (
            index.read_bytes()
        )
    for document in (fixtures / "docs").glob("*.xml"):
        cik = int(document.stem.split("-")[0])
        folder = document.stem.replace("-", "")
        server.files[f"/Archives/edgar/data/{cik}/{folder}/primary_doc.xml"] = document.read_bytes()
    server.files["/ftc/press.rss"] = (fixtures / "ftc-press.rss").read_bytes()
    server.files["/cma/cases.atom"] = (fixtures / "cma-cases.atom").read_bytes()
    server.files["/warn/report.csv"] = (fixtures / "warn.csv").read_bytes()
    server.files["/newsroom/feed.rss"] = (fixtures / "newsroom.rss").read_bytes()
    server.files["/pylon/news.rss"] = (fixtures / "pylon-news.rss").read_bytes()
    server.files["/nvidia/news.rss"] = (fixtures / "nvidia-news.rss").read_bytes()
    return server


def local_sources(url: str) -> dict:
    """A sources file for the fixture server: the shape of the real one, local addresses."""
    warn = {"company": "Company", "date": "Notice Date", "headcount": "No. Of Employees",
            "effective": "Effective Date"}  # fmt: skip
    return {
        "contact": "dealwatch demo demo@example.com",
        "sources": [
            {"name": "sec-formd", "kind": "sec_formd", "base_url": url, "every": "1h",
             "start": "2024-11-04", "requests_per_second": 50},
            {"name": "ftc", "kind": "press", "authority": "FTC", "url": f"{url}/ftc/press.rss",
             "every": "30m"},
            {"name": "cma", "kind": "press", "authority": "CMA", "url": f"{url}/cma/cases.atom",
             "every": "30m"},
            {"name": "ca-warn", "kind": "layoffs", "url": f"{url}/warn/report.csv", "every": "1d",
             "mapping": warn},
            {"name": "amazon-news", "kind": "press", "url": f"{url}/newsroom/feed.rss",
             "owner": "amazon", "every": "6h"},
        ],
    }  # fmt: skip


if __name__ == "__main__":  # python -m tests.source_server --config sources.local.yaml
    import argparse
    import time

    import yaml

    parser = argparse.ArgumentParser(description="Serve the recorded source files locally.")
    parser.add_argument("--config", default="sources.local.yaml", help="sources file to write")
    options = parser.parse_args()
    running = serve_fixtures(SourceServer()).start()
    with open(options.config, "w") as out:
        yaml.safe_dump(local_sources(running.url), out, sort_keys=False)
    print(f"serving the recorded sources at {running.url}; sources file: {options.config}")
    print(f"run: DEALWATCH_SOURCES_FILE={options.config} dealwatch sources run   (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        running.stop()
